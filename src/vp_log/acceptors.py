"""Several receiving processes on one port (``receive_processes``), one spool, one worker.

One Python process receives on one core: pynetdicom's two threads per association and the
C-STORE handler share its interpreter lock, so four associations at once took four times as
long as one. With ``receive_processes = N`` the listener (which keeps the spool lock, the
worker, the status file and its own acceptor) starts ``N - 1`` more acceptor processes that
accept on the listener's own listening socket, handed to them at start:

- Each writes what it receives into the same spool, durably, before its acknowledgement
  (:class:`vp_log.spool.Spool`: names carry the process id, so two processes never share a
  file), and wakes the one worker through the same pipe as the listener.
- ``max_associations`` holds for the node: each process publishes how many associations it
  admitted in :class:`AdmissionCounts` (shared memory), and admits a new one under an
  ``flock`` of ``spool/.admit.lock`` only if the sum is below the limit. ``max_connections``
  is per process (it bounds each process's threads and descriptors).
- A process with more associations than another lets the other take a new connection first
  (:data:`YIELD_ACCEPT_S`), so four associations spread over the processes.
- They tell the listener what they do (running and ended associations) once a second through
  a pipe of their own; ``vp-log status`` shows them with the listener's.
- They die with the listener (``PR_SET_PDEATHSIG``: a ``kill -9`` of the listener takes its
  acceptors with it, as it takes its threads), stop on SIGTERM after their running
  associations (as the listener does), and the listener starts a new one if one dies.

The spool lock stays the rule that one listener (with its acceptors) serves a data folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import socket
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

YIELD_ACCEPT_S = 0.005
"""How long a process with more associations than another waits before it accepts."""

_PR_SET_PDEATHSIG = 1


class AdmissionCounts:
    """Associations admitted by each receiving process, in memory they all share.

    Each process writes only its own slot; a decision to admit reads every slot under an
    ``flock`` (which the kernel releases when a process dies, unlike a semaphore), and a
    thread lock (an ``flock`` does not exclude the threads of one process).
    """

    def __init__(self, slots: Any, lock_path: Path) -> None:
        self.slots = slots  # multiprocessing RawArray("i", processes)
        self.lock_path = lock_path
        self._fd: int | None = None
        self._thread_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"slots": self.slots, "lock_path": self.lock_path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["slots"], state["lock_path"])  # type: ignore[misc]

    def _lock_fd(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def admit(self, index: int, own: int, limit: int) -> tuple[bool, int]:
        """Publish ``own`` for process ``index``; admit one more if the node is below
        ``limit``. Returns (admitted, associations open in the node before this one)."""
        with self._thread_lock:
            fd = self._lock_fd()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                self.slots[index] = own
                total = sum(self.slots)
                if total < limit:
                    self.slots[index] = own + 1
                    return True, total
                return False, total
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def publish(self, index: int, own: int) -> None:
        self.slots[index] = own

    def fewer_elsewhere(self, index: int) -> bool:
        """Whether another process has fewer associations than process ``index``."""
        counts = list(self.slots)
        return any(c < counts[index] for i, c in enumerate(counts) if i != index)


def die_with_parent(parent_pid: int) -> bool:
    """Ask the kernel to kill this process when its parent dies; False if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    return os.getppid() == parent_pid


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    """Where the kernel cannot kill us with the parent: notice it is gone, and stop."""
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            logger.error("the listener is gone; this receiving process stops")
            stop.set()


def run_acceptor(
    settings_data: dict[str, Any],
    index: int,
    listen_socket: socket.socket,
    wake: Connection,
    counts: AdmissionCounts,
    report: Connection,
    parent_pid: int,
) -> None:
    """Entry point of an acceptor process (``multiprocessing``, spawn start method)."""
    # Ctrl-C reaches the whole process group; the listener answers it and sends SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = threading.Event()

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    if not die_with_parent(parent_pid):
        return
    from vp_log.cli.common import setup_logging
    from vp_log.config import Settings
    from vp_log.listener import Acceptor
    from vp_log.spool import Spool

    settings = Settings(**settings_data)
    setup_logging(settings.log_level)
    threading.Thread(target=_watch_parent, args=(parent_pid, stop), daemon=True).start()
    spool = Spool(Path(settings.data_dir), reserve_bytes=settings.disk_reserve_mb * 1_000_000)
    acceptor = Acceptor(settings, spool, index=index, counts=counts, wake=wake, report=report)
    try:
        acceptor.serve(listen_socket)
        stop.wait()
    finally:
        acceptor.stop()
