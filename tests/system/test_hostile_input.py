"""Hostile files over DICOM and through `vp-log import`: no traceback, nothing lost, no stall.

The fuzz corpus (tests/fuzz_corpus.py, seeded) is imported with the CLI and sent to a real
listener; a poison instance sits in the middle of 500 good ones sent by dcmtk's storescu.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest

from conftest import base_env, require_dcmtk, run_cli, storescu, wait_for
from vp_log.samples import write_xa_instances
from vp_log.spool import REASON_SUFFIX, read_reason, uid_hash

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


# --- the fuzz corpus over DICOM ------------------------------------------------------------
ASSOCIATIONS = 4
"""storescu processes sending the corpus at the same time, each its share in one association."""
SEND_TIMEOUT_S = 120
"""Bound on one storescu run (its own -to/-ta/-td bound every network wait)."""
DRAIN_TIMEOUT_S = 90
"""Bound on the worker draining ~150 acknowledged fuzzed files after the last association
(about 10 s on an idle machine; 40-50 s with two cores shared by a dozen processes)."""
SEND_MAX_BYTES = 8 << 20
"""Files above this (the widest SRs, 25-40 MB each) are left to the import test and bench/:
dcmtk parses each twice before sending, and three of them doubled the test's time."""


@dataclass
class Sent:
    """What one storescu run says: files acknowledged (with the UID) and files not sent."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # file -> Affected SOP Instance UID
    not_sent: list[str] = field(default_factory=list)  # storescu refused (could not parse) them
    refused: list[str] = field(default_factory=list)  # sent, answered with a failure status


_RESPONSE = "Received Store Response"
_AFFECTED = re.compile(r"^D: Affected SOP Instance UID\s*: (.*)$")
_STATUS = re.compile(r"^D: DIMSE Status\s*: 0x([0-9A-Fa-f]{4})")
_IGNORED = re.compile(r"^W: .* in file: (.+), ignoring file$")


def parse_storescu_debug(output: str) -> Sent:
    """storescu ``-d`` output: each response's Affected SOP Instance UID and status.

    The UID is the one in the C-STORE response (what the listener acknowledged), not one
    read from the file: storescu takes it from the dataset as dcmtk parses it, and cuts it
    to 64 characters (dcmtk's ``DIC_UI``), which a fuzzed file can make differ from its meta.
    """
    sent = Sent()
    current: str | None = None
    in_response = False
    uid: str | None = None
    for line in output.splitlines():
        if m := _IGNORED.match(line):
            sent.not_sent.append(m.group(1))
        elif line.startswith("I: Sending file: "):
            if current is not None:  # no response for the previous one (association ended)
                sent.refused.append(current)
            current, in_response, uid = line.removeprefix("I: Sending file: ").strip(), False, None
        elif line.startswith(f"I: {_RESPONSE}") and current is not None:
            in_response = True
        elif in_response and (m := _AFFECTED.match(line)):
            uid = m.group(1).strip()
        elif in_response and (m := _STATUS.match(line)) and current is not None:
            status = int(m.group(1), 16)
            if (status == 0 or status & 0xF000 == 0xB000) and uid:  # success or warning
                sent.acknowledged[current] = uid
            else:
                sent.refused.append(current)
            current, in_response = None, False
    if current is not None:
        sent.refused.append(current)
    return sent


_STORESCU = (
    "storescu",
    "-d",
    "-nh",
    "-R",
    "-xy",
    "-to",
    "20",
    "-ta",
    "20",
    "-td",
    "60",
    "-aet",
    "FUZZSCU",
)


def _storescu_debug(port: int, files: list[Path], out: Path) -> subprocess.Popen[bytes]:
    """One storescu association for ``files``, its output into ``out``; every wait bounded.

    Not a pipe: ``-d`` writes ~1 KB per file, and a storescu whose pipe is full (64 KB,
    ~60 files) while the test waits for another stops in ``pipe_write``, in the middle of
    checking its files or of its association. That is the "client hang" of the first
    attempt at this test: storescu waiting for the test, the test waiting for storescu.
    """
    with out.open("wb") as sink:
        return subprocess.Popen(
            # -nh: a file dcmtk cannot parse is skipped (and said so), not the end of the run.
            # -to/-ta/-td: connect, association and each C-STORE response are bounded;
            # storescu waits for a response for ever by default (-td unlimited).
            [*_STORESCU, "-aec", "VPLOG", "127.0.0.1", str(port), *map(str, files)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _quarantined(quarantine: Path) -> tuple[set[str], set[str]]:
    """(UID hashes of quarantined spool files, SOP Instance UIDs named in reason files)."""
    hashes: set[str] = set()
    uids: set[str] = set()
    for reason_file in quarantine.glob(f"*{REASON_SUFFIX}"):
        dicom = reason_file.with_name(reason_file.name.removesuffix(REASON_SUFFIX))
        assert dicom.exists(), f"a reason without its file: {reason_file.name}"
        reason = read_reason(reason_file)
        assert reason.reason.strip(), f"an empty reason: {reason_file.name}"
        hashes.add(dicom.stem.split("-")[2])
        if reason.sop_instance_uid:
            uids.add(reason.sop_instance_uid)
    return hashes, uids


def test_fuzz_corpus_over_dicom_every_acknowledged_uid_is_recorded_or_quarantined(
    corpus: list[fc.FuzzFile], listener_factory: object, tmp_path: Path
) -> None:
    require_dcmtk()
    lst = listener_factory(  # type: ignore[operator]
        VP_LOG_MAX_SECONDS_PER_FILE="3", VP_LOG_DISK_RESERVE_MB="0"
    )
    paths = [f.path for f in corpus if f.path.stat().st_size <= SEND_MAX_BYTES]
    assert len(paths) >= len(corpus) - 5
    started = time.monotonic()
    logs = [tmp_path / f"storescu-{i}.txt" for i in range(ASSOCIATIONS)]
    procs = [
        _storescu_debug(lst.port, paths[i::ASSOCIATIONS], logs[i]) for i in range(ASSOCIATIONS)
    ]
    outputs = []
    for proc, log in zip(procs, logs, strict=True):
        try:
            proc.wait(timeout=max(1.0, SEND_TIMEOUT_S - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            pytest.fail(f"storescu did not finish within {SEND_TIMEOUT_S} s:\n{lst.log()[-3000:]}")
        out = log.read_bytes().decode("latin-1")  # UIDs byte for byte, as pydicom reads them
        assert proc.returncode == 0, out[-3000:]
        outputs.append(out)
    runs = [parse_storescu_debug(out) for out in outputs]
    acknowledged = {f: uid for run in runs for f, uid in run.acknowledged.items()}
    not_sent = {f for run in runs for f in run.not_sent}
    refused = {f for run in runs for f in run.refused}
    # Every file is accounted for by storescu: acknowledged, not sent by it, or refused.
    assert len(acknowledged) + len(not_sent) + len(refused) == len(paths)
    assert not refused, f"the listener refused {sorted(refused)[:5]}"
    assert len(acknowledged) > len(corpus) // 3  # the corpus is not all unreadable to dcmtk
    spool = lst.data_dir / "spool"
    assert wait_for(lambda: not any(spool.glob("*.dcm")), timeout=DRAIN_TIMEOUT_S), (
        f"{len(list(spool.glob('*.dcm')))} files still in the spool\n" + lst.log()[-3000:]
    )
    db_uids = _db_uids(lst.data_dir / "vp_log.db")
    hashes, reason_uids = _quarantined(lst.data_dir / "quarantine")
    # storage_key and reused_uid_key keep the first 64 characters, then '#...'; of a
    # multi-valued UID ("a\\b") storescu sends the first value as the Affected SOP Instance UID.
    prefixes = {key.split("#", 1)[0].split("\\", 1)[0] for key in db_uids}
    missing = [
        (f, uid)
        for f, uid in acknowledged.items()
        if uid not in db_uids
        and uid not in prefixes
        and uid_hash(uid) not in hashes
        and uid not in reason_uids
    ]
    assert not missing, (
        f"{len(missing)} acknowledged, neither recorded nor quarantined: {missing[:5]}"
    )
    assert lst.stop() == 0
    log = lst.log()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:4000]


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
