"""A full disk recovers by itself: below the reserve new C-STOREs are refused, the worker drains.

A small tmpfs is the data folder (needs root, as on this project's machines); storescu retries
what was not acknowledged, as a PACS does, for a bounded time.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import acknowledged, require_dcmtk, storescu, wait_for
from vp_log.samples import write_xa_instances
from vp_log.spool import disk_space

RESERVE_MB = 3


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small-fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def stored(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM instances").fetchone()[0])


def test_full_disk_recovers_under_continuous_retries(
    listener_factory: object, tmp_path: Path, tmpfs: Path
) -> None:
    require_dcmtk()
    files = write_xa_instances(tmp_path / "src", 200, rows=256, cols=256, frames=1, seed=11)
    db = tmp_path / "db" / "vp_log.db"
    data = tmpfs / "data"
    data.mkdir()
    # (The listener's log lives on the tmpfs too, beside the data folder.)
    # Leave 2 MB free: below the 3 MB reserve before the first instance arrives.
    ballast = tmpfs / "ballast"
    free = disk_space(tmpfs, 0).free_bytes
    ballast.write_bytes(bytes(free - 2_000_000))
    lst = listener_factory(  # type: ignore[operator]
        f"sqlite:///{db}", data_dir=data, VP_LOG_DISK_RESERVE_MB=str(RESERVE_MB)
    )

    first = storescu(lst.port, files[:5], extra=("--no-halt",))
    ok, refused = acknowledged(first.stdout + first.stderr)
    assert not ok and len(refused) == 5
    assert "OutOfResources" in first.stdout + first.stderr
    assert "(disk_reserve_mb): refusing C-STOREs (0xA700)" in lst.log()  # type: ignore[attr-defined]
    assert not any((data / "spool").glob("*.dcm"))  # nothing written below the reserve

    ballast.unlink()  # space is freed; the PACS keeps retrying everything it holds
    pending = list(files)
    rounds = 0
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        rounds += 1
        sent = storescu(lst.port, pending, extra=("--no-halt",))
        ok, _ = acknowledged(sent.stdout + sent.stderr)
        done = set(ok)
        pending = [f for f in pending if str(f) not in done]
        if pending:
            time.sleep(0.5)
    assert not pending, f"{len(pending)} never acknowledged after {rounds} rounds"
    assert wait_for(lambda: stored(db) == len(files), timeout=60)
    assert wait_for(lambda: not any((data / "spool").glob("*.dcm")), timeout=30)
    log = lst.log()  # type: ignore[attr-defined]
    assert "(disk_reserve_mb): accepting C-STOREs again" in log
    # 200 instances (~14 MB) do not fit above the reserve at once: the retries ran into it
    # again, and the worker's draining let them in later.
    assert rounds > 1 and log.count("refusing C-STOREs (0xA700) until") >= 2, (rounds, log[-2000:])
    assert "Traceback" not in log
    # The state `vp-log status` reports, from the same function the listener uses.
    assert not disk_space(data, RESERVE_MB * 1_000_000).below_reserve
