"""Several receiving processes on one port (``receive_processes``): one spool, one worker,
one association limit, and nothing acknowledged lost when the listener is killed."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from test_durability import sop_uid, stored_uids
from test_hostile_network import associate

from conftest import (
    ListenerFactory,
    ListenerProcess,
    acknowledged,
    echoscu,
    require_dcmtk,
    storescu,
    wait_for,
)
from vp_log.samples import write_xa_instances


def receiving_pids(lst: ListenerProcess) -> list[int]:
    assert wait_for((lst.data_dir / "status.json").exists, timeout=30)
    status = json.loads((lst.data_dir / "status.json").read_text())
    return [int(p) for p in status["receive_processes"]]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text()


def send_at_once(
    port: int, groups: list[list[Path]], log_dir: Path
) -> list[subprocess.Popen[bytes]]:
    senders = []
    for i, files in enumerate(groups):
        with open(log_dir / f"storescu-{i}.log", "wb") as log:
            senders.append(
                subprocess.Popen(
                    [
                        "storescu",
                        "-v",
                        "-R",
                        "-to",
                        "30",
                        "-aec",
                        "VPLOG",
                        "-aet",
                        f"PACS{i}",
                        "127.0.0.1",
                        str(port),
                        *map(str, files),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return senders


def test_two_processes_share_the_port_the_spool_and_the_worker(
    listener_factory: ListenerFactory, tmp_path: Path
) -> None:
    require_dcmtk()
    files = write_xa_instances(tmp_path / "src", 40, rows=64, cols=64, frames=1, seed=11)
    lst = listener_factory(VP_LOG_RECEIVE_PROCESSES="2")
    pids = receiving_pids(lst)
    assert len(pids) == 2 and pids[0] == lst.pid and all(alive(p) for p in pids)
    senders = send_at_once(lst.port, [files[i::4] for i in range(4)], tmp_path)
    assert [s.wait(timeout=120) for s in senders] == [0, 0, 0, 0]
    db = lst.data_dir / "vp_log.db"
    assert wait_for(lambda: len(stored_uids(db)) == len(files), timeout=120), lst.log()[-3000:]
    assert sorted(stored_uids(db)) == sorted(sop_uid(f) for f in files)
    assert lst.log().count("released: 10 stored, 0 failed") == 4
    assert "2 receiving processes" in lst.log()
    assert lst.stop() == 0
    assert wait_for(lambda: not alive(pids[1]), timeout=10), "the acceptor outlived the listener"
    assert "Traceback" not in lst.log()


def test_max_associations_counts_every_receiving_process(
    listener_factory: ListenerFactory,
) -> None:
    require_dcmtk()
    lst = listener_factory(
        VP_LOG_RECEIVE_PROCESSES="2", VP_LOG_MAX_ASSOCIATIONS="2", VP_LOG_NETWORK_TIMEOUT_S="30"
    )
    held = [associate(lst.port) for _ in range(2)]
    try:
        for _ in range(4):  # whichever process takes the connection, the node is full
            done = echoscu(lst.port)
            assert done.returncode != 0 and "Local Limit Exceeded" in done.stdout + done.stderr
        held.pop().close()
        assert wait_for(lambda: echoscu(lst.port).returncode == 0, timeout=15)
    finally:
        for sock in held:
            sock.close()
    assert "rejected: 2 associations already open (max_associations)" in lst.log()
    assert lst.stop() == 0


def test_kill_9_with_two_processes_loses_nothing_acknowledged(
    listener_factory: ListenerFactory, tmp_path: Path
) -> None:
    require_dcmtk()
    files = write_xa_instances(tmp_path / "src", 320, rows=128, cols=128, frames=1, seed=12)
    lst = listener_factory(VP_LOG_RECEIVE_PROCESSES="2")
    acceptor = receiving_pids(lst)[1]
    groups = [files[0::2], files[1::2]]
    senders = send_at_once(lst.port, groups, tmp_path)

    def received() -> int:
        spooled = sum(1 for _ in (lst.data_dir / "spool").glob("*.dcm"))
        return spooled + sum(1 for _ in (lst.data_dir / "archive").rglob("*.dcm"))

    assert wait_for(lambda: received() >= 60, timeout=120, interval=0.02)
    lst.kill9()
    # The kernel takes the acceptor with the listener (as the listener's own threads).
    assert wait_for(lambda: not alive(acceptor), timeout=10)
    for sender in senders:
        sender.wait(timeout=120)
    ok: list[str] = []
    for i in range(len(groups)):
        ok += acknowledged((tmp_path / f"storescu-{i}.log").read_text())[0]
    assert 30 <= len(ok) < len(files), "the crash must fall mid-send"

    lst.start()  # same port (nothing holds it any more) and data folder
    db = lst.data_dir / "vp_log.db"
    acked = {sop_uid(p) for p in ok}
    assert wait_for(lambda: acked <= set(stored_uids(db)), timeout=60)
    sent = set(ok)
    again = storescu(lst.port, [p for p in files if str(p) not in sent])
    assert again.returncode == 0, again.stderr
    assert wait_for(lambda: len(stored_uids(db)) == len(files), timeout=120)
    uids = stored_uids(db)
    assert len(uids) == len(set(uids)) == len(files)
    assert lst.stop() == 0


def test_a_receiving_process_that_dies_is_replaced(
    listener_factory: ListenerFactory, tmp_path: Path
) -> None:
    require_dcmtk()
    files = write_xa_instances(tmp_path / "src", 4, rows=32, cols=32, frames=1, seed=13)
    lst = listener_factory(VP_LOG_RECEIVE_PROCESSES="2")
    first = receiving_pids(lst)[1]
    time.sleep(5)  # past the restart pause of a process that dies at once
    os.kill(first, 9)
    assert wait_for(lambda: "receiving process 1 exited with -9" in lst.log(), timeout=20)

    def replaced() -> bool:
        pids = receiving_pids(lst)
        return len(pids) == 2 and pids[1] != first and alive(pids[1])

    assert wait_for(replaced, timeout=60), lst.log()[-2000:]
    for group in (files[:2], files[2:]):
        assert storescu(lst.port, group).returncode == 0
    db = lst.data_dir / "vp_log.db"
    assert wait_for(lambda: len(stored_uids(db)) == len(files), timeout=60)
    assert lst.stop() == 0
