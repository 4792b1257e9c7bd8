"""The pipeline on real files and a real SQLite database, with a clock we set."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydicom
import pytest

from vp_log import pipeline as pipeline_module
from vp_log.config import load_settings
from vp_log.db import Database
from vp_log.db import repository as repo
from vp_log.pipeline import Pipeline
from vp_log.samples import write_all_cases, write_xa_instances
from vp_log.spool import Spool


def spooled(spool: Spool, src: Path, at: datetime, n: int) -> Path:
    dest = spool.ready / f"{int(at.timestamp() * 1e9):020d}-{n:06d}-x.dcm"
    shutil.copyfile(src, dest)
    return dest


def test_instance_acknowledged_before_an_assembly_but_stored_after_it(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", quiet_period_s=60)
    database = Database(settings.db_url)
    spool = Spool(settings.data_dir)
    now = [datetime(2026, 1, 1, 10, 0, tzinfo=UTC)]
    pipeline = Pipeline(settings, database, spool, clock=lambda: now[0])
    a, b = write_xa_instances(tmp_path / "src", 2, rows=16, cols=16, seed=1)

    pipeline.process([spooled(spool, a, now[0], 1)], received_from="dicom", from_spool=True)
    pipeline.assemble_stale()
    b_spooled = spooled(spool, b, now[0] + timedelta(seconds=30), 2)  # acknowledged at 10:00:30
    now[0] += timedelta(seconds=90)  # the sweep runs before the worker got to B
    assert pipeline.complete_quiet_studies()
    now[0] += timedelta(seconds=1)
    pipeline.process([b_spooled], received_from="dicom", from_spool=True)
    assert pipeline.assemble_stale()
    with database.session() as session:
        (record,) = repo.list_procedures(session=session, include_all=True)
        assert record.instance_count == 2
        assert record.last_received_at == datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC)
    database.dispose()


def test_reprocessing_a_spool_file_after_a_crash_changes_nothing(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    database = Database(settings.db_url)
    spool = Spool(settings.data_dir)
    pipeline = Pipeline(settings, database, spool)
    (a,) = write_xa_instances(tmp_path / "src", 1, rows=16, cols=16, seed=2)
    first = pipeline.process(
        [spooled(spool, a, datetime.now(UTC), 1)], received_from="dicom", from_spool=True
    )
    # A crash after the commit but before the spool file was removed: it is processed again.
    again = pipeline.process(
        [spooled(spool, a, datetime.now(UTC), 2)], received_from="dicom", from_spool=True
    )
    assert [r.outcome.value for r in first + again] == ["new", "duplicate"]
    assert not spool.pending()
    with database.session() as session:
        assert len(repo.all_instances(session=session)) == 1
    database.dispose()


@pytest.mark.parametrize("held_bound", [None, 5])
def test_records_assembled_from_the_batch_equal_records_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held_bound: int | None
) -> None:
    """A study is assembled from the rows its batches wrote: the same record as one built from
    the rows read back (a reused SOP Instance UID, stored under another key, and a NUL in a
    text, dropped on the way into the store, included); also when the pipeline holds more
    than its bound and lets go of what it held."""
    if held_bound is not None:
        monkeypatch.setattr(pipeline_module, "MAX_HELD_INSTANCES", held_bound)
    settings = load_settings(data_dir=tmp_path / "data")
    database = Database(settings.db_url)
    at = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    pipeline = Pipeline(settings, database, Spool(settings.data_dir), clock=lambda: at)
    files = [p for m in write_all_cases(tmp_path / "src", seed=3) for p in m.paths()]
    reused = pydicom.dcmread(files[0])
    reused.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    reused.StudyDescription = "vertebroplasty\x00 L1"
    pydicom.dcmwrite(tmp_path / "reused.dcm", reused, enforce_file_format=True)
    files.append(tmp_path / "reused.dcm")
    for start in range(0, len(files), 7):  # studies split across batches
        done = pipeline.process(files[start : start + 7], received_from="test", from_spool=False)
        pipeline.assemble_held(final=True, keep={r.study_instance_uid or "" for r in done})
    pipeline.assemble_stale(final=True)
    with database.session() as session:
        from_batches = {
            r.study_instance_uid: r.record
            for r in repo.list_procedures(session=session, include_all=True)
        }
    assert len(from_batches) == 5
    assert any(
        "invalid-uid:sop-instance-uid-reused" in record["flags"] for record in from_batches.values()
    )
    fresh = Pipeline(settings, database, Spool(settings.data_dir), clock=lambda: at)
    with database.session() as session:
        for study_uid in from_batches:
            fresh.reassemble(session=session, study_instance_uid=study_uid, now=at, final=True)
    with database.session() as session:
        read_back = {
            r.study_instance_uid: r.record
            for r in repo.list_procedures(session=session, include_all=True)
        }
    assert read_back == from_batches
    database.dispose()
