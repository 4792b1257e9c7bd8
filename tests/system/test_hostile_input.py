"""Hostile files over DICOM and through `vp-log import`: no traceback, nothing lost, no stall.

The fuzz corpus (tests/fuzz_corpus.py, seeded) is imported with the CLI and sent to a real
listener; a poison instance sits in the middle of 500 good ones sent by dcmtk's storescu.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from conftest import base_env, require_dcmtk, run_cli, storescu, wait_for
from vp_log.samples import write_xa_instances
from vp_log.spool import read_reason, uid_hash

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fuzz_corpus as fc

CORPUS_SIZE = 300


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[fc.FuzzFile]:
    return fc.write_fuzz_corpus(tmp_path_factory.mktemp("fuzz"), CORPUS_SIZE, seed=14)


def _db_uids(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return {row[0] for row in conn.execute("SELECT sop_instance_uid FROM instances")}


def _db_count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_import_of_the_fuzz_corpus_accounts_for_every_file(
    corpus: list[fc.FuzzFile], tmp_path: Path
) -> None:
    env = base_env(tmp_path / "data", VP_LOG_MAX_SECONDS_PER_FILE="3")
    run_cli("db", "upgrade", env=env)
    proc = run_cli("import", str(corpus[0].path.parent), "--json", env=env)
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    rejected = {r["path"]: r["reason"] for r in summary["rejected"]}
    assert summary["files"] == len(corpus)
    assert summary["new"] + summary["duplicate"] + len(rejected) == len(corpus)
    assert all(reason and "\n" not in reason for reason in rejected.values())
    # Each kind of hostility is met: limits named, invalid UIDs flagged, the reused UID kept.
    assert any("limit max_sequence_depth" in r for r in rejected.values())
    flags = {f for item in summary["flagged"] for f in item["flags"]}
    assert {"invalid-uid:sop-instance-uid", "invalid-uid:sop-instance-uid-reused"} <= flags
    db = tmp_path / "data" / "vp_log.db"
    assert _db_count(db, "procedures") == len(summary["studies"])
    text = run_cli("import", str(corpus[0].path.parent), env=env)
    assert "Traceback" not in text.stderr + text.stdout
    assert f"{len(corpus)} files" in text.stdout


def _poison(tmp_path: Path, like: Path) -> Path:
    """A valid instance (storescu sends it) whose comment is over the listener's text limit."""
    ds = pydicom.dcmread(like)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = fc.new_uid()
    ds.ImageComments = "T12 3 ml " * 2_000
    path = tmp_path / "poison.dcm"
    ds.save_as(path)
    return path


def test_poison_instance_among_500_good_ones_does_not_stall_the_worker(
    listener_factory: object, tmp_path: Path
) -> None:
    require_dcmtk()
    good = write_xa_instances(tmp_path / "good", 500, rows=16, cols=16, seed=16, series_size=50)
    files = [*good[:250], _poison(tmp_path, good[0]), *good[250:]]
    lst = listener_factory(  # type: ignore[operator]
        VP_LOG_QUIET_PERIOD_S="3", VP_LOG_MAX_TEXT_BYTES="4096"
    )
    sent = storescu(lst.port, files)
    assert sent.returncode == 0, sent.stderr
    done_at = time.monotonic()
    db = lst.data_dir / "vp_log.db"

    def recorded() -> bool:
        if _db_count(db, "instances") != 500:
            return False
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            rows = conn.execute("SELECT status FROM procedures").fetchall()
        return bool(rows) and all(status != "receiving" for (status,) in rows)

    assert wait_for(recorded, timeout=3 + 5, interval=0.1), lst.log()[-3000:]
    assert time.monotonic() - done_at <= 3 + 5
    (reason,) = [read_reason(p) for p in (lst.data_dir / "quarantine").glob("*.reason.txt")]
    assert (reason.kind, reason.limit) == ("limit", "max_text_bytes")
    assert not any((lst.data_dir / "spool").glob("*.dcm"))
    assert lst.stop() == 0


def test_one_worker_per_spool_after_kill_9_of_the_listener(
    listener_factory: object, tmp_path: Path
) -> None:
    require_dcmtk()
    files = write_xa_instances(tmp_path / "src", 400, rows=32, cols=32, seed=17)
    lst = listener_factory()  # type: ignore[operator]
    spool = lst.data_dir / "spool"
    lst.stop()
    # A spool full of work, a listener killed while its worker drains it.
    for n, f in enumerate(files):
        (spool / f"{time.time_ns():020d}-{n:06d}-{uid_hash(str(n))}.dcm").write_bytes(
            f.read_bytes()
        )
    lst.start()
    first_log = lst.log
    lst.kill9()  # the worker is orphaned and goes on with its final drain
    lst.start()
    assert wait_for(lambda: not any(spool.glob("*.dcm")), timeout=120)
    db = lst.data_dir / "vp_log.db"
    assert wait_for(lambda: _db_count(db, "instances") == len(files), timeout=60)
    assert lst.stop() == 0
    log = first_log() + lst.log()
    assert "Traceback" not in log and "FileNotFoundError" not in log
    assert not any((lst.data_dir / "quarantine").iterdir())


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    server.close()


def test_postgres_that_never_answers_fails_within_its_timeout_in_one_line(
    silent_server: int, tmp_path: Path
) -> None:
    url = f"postgresql://vp:secret@127.0.0.1:{silent_server}/vp_log?sslmode=disable"
    env = base_env(tmp_path / "data", url)
    started = time.monotonic()
    proc = run_cli("procedures", "list", env=env, check=False)
    assert time.monotonic() - started < 10 + 10  # connect_timeout, plus the interpreter
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "cannot use the database" in line and "timeout" in line
    assert "secret" not in line


@pytest.mark.parametrize("args", [("procedures", "list"), ("import", "{src}"), ("db", "upgrade")])
def test_sqlite_file_that_is_not_a_database_gives_one_line(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "vp_log.db").write_bytes(b"this is not a database, but a note" * 100)
    (src,) = write_xa_instances(tmp_path / "src", 1, rows=8, cols=8, seed=18)
    proc = run_cli(*(a.format(src=src) for a in args), env=base_env(data), check=False)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "not a database" in line


def test_infinite_quiet_period_is_refused_in_one_line(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data", VP_LOG_QUIET_PERIOD_S="inf")
    proc = run_cli("procedures", "list", env=env, check=False)
    assert proc.returncode == 2
    assert "quiet_period_s" in proc.stderr and "Traceback" not in proc.stderr
