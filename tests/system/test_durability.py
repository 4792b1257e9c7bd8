"""Nothing acknowledged is lost: a crash mid-send, a full disk, a file-size limit."""

from __future__ import annotations

import resource
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from conftest import (
    ListenerFactory,
    ListenerProcess,
    acknowledged,
    echoscu,
    require_dcmtk,
    sample_files,
    storescu,
    wait_for,
)
from vp_log.samples import write_xa_instances


def stored_uids(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return [row[0] for row in conn.execute("SELECT sop_instance_uid FROM instances")]


def sop_uid(path: str | Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def test_kill_9_mid_send_then_resend(listener_factory: ListenerFactory, tmp_path: Path) -> None:
    require_dcmtk()
    files = write_xa_instances(tmp_path / "src", 320, rows=128, cols=128, frames=1, seed=7)
    lst = listener_factory()
    out = tmp_path / "storescu.log"
    with open(out, "w") as log:
        sender = subprocess.Popen(
            [
                "storescu",
                "-v",
                "-R",
                "-to",
                "30",
                "-aec",
                "VPLOG",
                "-aet",
                "PACS",
                "127.0.0.1",
                str(lst.port),
                *map(str, files),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def received() -> int:
            spooled = sum(1 for _ in (lst.data_dir / "spool").glob("*.dcm"))
            return spooled + sum(1 for _ in (lst.data_dir / "archive").rglob("*.dcm"))

        assert wait_for(lambda: received() >= 60, timeout=120, interval=0.02)
        lst.kill9()
        sender.wait(timeout=120)
    ok, not_ok = acknowledged(out.read_text())
    assert 30 <= len(ok) < len(files), "the crash must fall mid-send"
    assert len(ok) + len(not_ok) <= len(files)

    lst.start()  # same data folder: the new worker drains the spool left by the crash
    db = lst.data_dir / "vp_log.db"
    acked = {sop_uid(p) for p in ok}
    assert wait_for(lambda: acked <= set(stored_uids(db)), timeout=60)

    sent = {str(Path(p)) for p in ok}
    resend = [p for p in files if str(p) not in sent]
    again = storescu(lst.port, resend)
    assert again.returncode == 0, again.stderr
    assert wait_for(lambda: len(stored_uids(db)) == len(files), timeout=120)
    uids = stored_uids(db)
    assert len(uids) == len(set(uids)) == len(files)
    assert lst.stop() == 0
    assert not any((lst.data_dir / "spool").glob("*.dcm"))


def _check_refused_big_file_kept_small_ones(
    lst: ListenerProcess, big: Path, small: list[Path]
) -> None:
    # --no-halt: storescu goes on after a refusal, as a PACS forwarding a queue does.
    sent = storescu(lst.port, [small[0], big, small[1]], extra=("--no-halt",))
    ok, not_ok = acknowledged(sent.stdout + sent.stderr)
    assert str(big) in not_ok and "OutOfResources" in sent.stdout + sent.stderr
    assert sorted(ok) == sorted(map(str, small))
    # The listener keeps running and keeps nothing half-written.
    assert echoscu(lst.port).returncode == 0
    data: Path = lst.data_dir
    assert not any((data / "spool" / ".incoming").iterdir())
    assert not any((data / "quarantine").iterdir())
    assert wait_for(lambda: not any((data / "spool").glob("*.dcm")))
    big_uid = sop_uid(big)
    assert "refused" in lst.log()
    return_db = lst.env.get("VP_LOG_DATABASE_URL", f"sqlite:///{data / 'vp_log.db'}")
    db = Path(return_db.removeprefix("sqlite:///"))
    assert wait_for(lambda: len(stored_uids(db)) == 2)
    assert big_uid not in stored_uids(db)


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))


def test_file_size_limit_answers_out_of_resources(
    listener_factory: ListenerFactory, tmp_path: Path
) -> None:
    big = next(f for f in sample_files() if f.name == "HasFragmentSequence.dcm")  # 1.7 MB
    small = write_xa_instances(tmp_path / "src", 2, rows=32, cols=32, frames=1, seed=3)
    lst = listener_factory(start=False)
    lst.preexec = _limit_file_size  # writes past 1 MB fail with EFBIG (Python ignores SIGXFSZ)
    lst.start()
    _check_refused_big_file_kept_small_ones(lst, big, small)


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs: a real full disk (needs root, as on this project's machines)."""
    mount = tmp_path / "small-fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip()}); the file-size "
            "limit test covers the same path"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_answers_out_of_resources(
    listener_factory: ListenerFactory, tmp_path: Path, small_filesystem: Path
) -> None:
    big = next(f for f in sample_files() if f.name == "HasFragmentSequence.dcm")
    small = write_xa_instances(tmp_path / "src", 2, rows=32, cols=32, frames=1, seed=4)
    lst = listener_factory(
        f"sqlite:///{tmp_path / 'db' / 'vp_log.db'}",
        data_dir=small_filesystem / "data",
        VP_LOG_DISK_RESERVE_MB="0",  # the real ENOSPC path, not the reserve (test_disk_reserve)
    )
    _check_refused_big_file_kept_small_ones(lst, big, small)


def test_full_disk_with_small_pdus_answers_out_of_resources(
    listener_factory: ListenerFactory, tmp_path: Path, small_filesystem: Path
) -> None:
    """Small fragments are buffered: ENOSPC then surfaces in a flush, not in a write."""
    big = next(f for f in sample_files() if f.name == "HasFragmentSequence.dcm")
    small = write_xa_instances(tmp_path / "src", 2, rows=32, cols=32, frames=1, seed=5)
    lst = listener_factory(
        f"sqlite:///{tmp_path / 'db' / 'vp_log.db'}",
        data_dir=small_filesystem / "data",
        VP_LOG_DISK_RESERVE_MB="0",  # the real ENOSPC path, not the reserve (test_disk_reserve)
    )
    sent = storescu(
        lst.port, [small[0], big, small[1]], extra=("--no-halt", "--max-send-pdu", "4096")
    )
    ok, not_ok = acknowledged(sent.stdout + sent.stderr)
    assert str(big) in not_ok and "OutOfResources" in sent.stdout + sent.stderr
    assert sorted(ok) == sorted(map(str, small))
    assert echoscu(lst.port).returncode == 0


def test_killed_worker_is_replaced_and_nothing_waits(
    listener_factory: ListenerFactory, tmp_path: Path
) -> None:
    files = write_xa_instances(tmp_path / "src", 4, rows=32, cols=32, frames=1, seed=8)
    lst = listener_factory()
    assert storescu(lst.port, files[:2]).returncode == 0
    db = lst.data_dir / "vp_log.db"
    assert wait_for(lambda: len(stored_uids(db)) == 2)
    workers = subprocess.run(
        ["pgrep", "-P", str(lst.pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert workers, "the listener runs its worker as a child process"
    for pid in workers:
        subprocess.run(["kill", "-9", pid], check=False)
    sent = subprocess.run(
        [
            "storescu",
            "-to",
            "20",
            "-aec",
            "VPLOG",
            "127.0.0.1",
            str(lst.port),
            *map(str, files[2:]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr  # answered while the worker was dead
    assert wait_for(lambda: len(stored_uids(db)) == 4, timeout=30)
    assert "starting a new one" in lst.log()
    assert lst.stop() == 0
    assert subprocess.run(["pgrep", "-P", str(lst.pid)], check=False).returncode != 0


def test_listener_crash_leaves_no_worker_behind(listener_factory: ListenerFactory) -> None:
    lst = listener_factory()
    workers = subprocess.run(
        ["pgrep", "-P", str(lst.pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert workers
    lst.kill9()
    assert wait_for(
        lambda: all(not Path(f"/proc/{pid}").exists() for pid in workers), timeout=30
    ), "the worker must exit when its listener dies"


def test_second_listener_on_the_same_data_folder_is_refused(
    listener_factory: ListenerFactory,
) -> None:
    first = listener_factory()
    second = listener_factory(start=False, data_dir=first.data_dir)
    second.start(wait=False)
    assert second.wait_exit(60) == 2
    assert "another vp-log listen already uses the data folder" in second.log()
    assert echoscu(first.port).returncode == 0


def test_unreadable_spool_file_is_quarantined_and_the_rest_goes_on(
    listener_factory: ListenerFactory, tmp_path: Path
) -> None:
    """A deflated data set cut in half makes pydicom raise zlib.error: quarantine, not a stall."""
    (good,) = write_xa_instances(tmp_path / "src", 1, rows=32, cols=32, frames=1, seed=9)
    ds = pydicom.dcmread(good)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.UID(
        "1.2.826.0.1.3680043.9.9.1"
    )
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    deflated = tmp_path / "deflated.dcm"
    ds.save_as(deflated, enforce_file_format=True)
    data = deflated.read_bytes()
    lst = listener_factory(start=False)
    spool = lst.data_dir / "spool"
    spool.mkdir(parents=True)
    (spool / "00000000000000000001-000001-aaaa.dcm").write_bytes(data[: len(data) * 2 // 3])
    (spool / "00000000000000000002-000002-bbbb.dcm").write_bytes(good.read_bytes())
    lst.start()
    db = lst.data_dir / "vp_log.db"
    assert wait_for(lambda: len(stored_uids(db)) == 1)
    reasons = list((lst.data_dir / "quarantine").glob("*.reason.txt"))
    assert len(reasons) == 1 and "unreadable DICOM header" in reasons[0].read_text()
    assert not any(spool.glob("*.dcm"))
