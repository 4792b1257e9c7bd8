"""The pipeline on real files and a real SQLite database, with a clock we set."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vp_log.config import load_settings
from vp_log.db import Database
from vp_log.db import repository as repo
from vp_log.pipeline import Pipeline
from vp_log.samples import write_xa_instances
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
