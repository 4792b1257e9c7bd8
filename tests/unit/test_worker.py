"""The worker's rounds on real files and a real SQLite database (issue 17)."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect

from vp_log.config import load_settings
from vp_log.db import Database
from vp_log.db import repository as repo
from vp_log.pipeline import Pipeline
from vp_log.samples import write_xa_instances
from vp_log.spool import Spool
from vp_log.worker import IDLE_POLL_S, Worker


def spool_files(spool: Spool, files: list[Path], at: datetime) -> None:
    for n, src in enumerate(files):
        shutil.copyfile(src, spool.ready / f"{int(at.timestamp() * 1e9) + n:020d}-{n:06d}-x.dcm")


def make_pipeline(tmp_path: Path, quiet_period_s: float) -> Pipeline:
    settings = load_settings(data_dir=tmp_path / "data", quiet_period_s=quiet_period_s)
    return Pipeline(settings, Database(settings.db_url), Spool(settings.data_dir))


def record_of(pipeline: Pipeline) -> dict[str, Any]:
    with pipeline.database.session() as session:
        (row,) = repo.list_procedures(session=session, include_all=True)
        assert row.status == row.record["status"]
        assert row.instance_count == row.record["instance_count"]
        return dict(row.record)


def test_late_batches_are_counted_and_the_study_assembled_once_quiet(tmp_path: Path) -> None:
    now = [datetime(2026, 3, 1, 9, 0, tzinfo=UTC)]
    settings = load_settings(data_dir=tmp_path / "data", quiet_period_s=60)
    pipeline = Pipeline(
        settings, Database(settings.db_url), Spool(settings.data_dir), clock=lambda: now[0]
    )
    files = write_xa_instances(tmp_path / "src", 6, rows=16, cols=16, seed=3, series_size=2)
    worker = Worker(pipeline)
    spool_files(pipeline.spool, files[:2], now[0])
    worker.round()
    first = record_of(pipeline)
    assert (first["status"], first["instance_count"], first["series_count"]) == ("receiving", 2, 1)

    now[0] += timedelta(seconds=30)
    spool_files(pipeline.spool, files[2:], now[0])
    worker.round()
    # Counted and still receiving, not assembled again: the new series are not in it yet.
    grown = record_of(pipeline)
    assert (grown["status"], grown["instance_count"], grown["series_count"]) == ("receiving", 6, 1)
    assert datetime.fromisoformat(grown["last_received_at"]) == now[0]

    now[0] += timedelta(seconds=61)
    worker.due = 0.0  # woken when the study is due (its quiet period counted on this clock)
    worker.round()
    done = record_of(pipeline)
    assert (done["status"], done["instance_count"], done["series_count"]) == ("complete", 6, 3)
    pipeline.database.dispose()


def test_an_idle_round_asks_the_database_nothing(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path, quiet_period_s=120)
    files = write_xa_instances(tmp_path / "src", 2, rows=16, cols=16, seed=4)
    spool_files(pipeline.spool, files, datetime.now(UTC))
    worker = Worker(pipeline)
    worker.round()  # the first round: the spool, and every stale record of the store
    statements: list[str] = []
    event.listen(
        pipeline.database.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement),
    )
    for _ in range(3):
        worker.round()
    assert statements == []
    assert worker.wait_s() > IDLE_POLL_S - 1  # asleep until its next look (or a wake-up)
    assert worker.due - time.monotonic() > 100  # the study is due after its quiet period
    pipeline.database.dispose()


def test_next_quiet_time_is_the_first_receiving_study_plus_the_quiet_period(
    tmp_path: Path,
) -> None:
    pipeline = make_pipeline(tmp_path, quiet_period_s=60)
    assert pipeline.next_quiet_time() is None
    first = datetime.now(UTC) - timedelta(seconds=10)
    for seed, at in ((5, first), (6, first + timedelta(seconds=5))):
        files = write_xa_instances(tmp_path / f"src{seed}", 1, rows=16, cols=16, seed=seed)
        spool_files(pipeline.spool, files, at)
    Worker(pipeline).round()
    due = pipeline.next_quiet_time()
    assert due is not None
    assert abs((due - (first + timedelta(seconds=60))).total_seconds()) < 0.01
    indexes = inspect(pipeline.database.engine).get_indexes("procedures")
    assert ["status", "last_received_at"] in [i["column_names"] for i in indexes]
    pipeline.database.dispose()
