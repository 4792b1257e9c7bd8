"""What a data folder's listener is doing, for ``vp-log status``.

The listener rewrites one small JSON file, ``<data_dir>/status.json`` (:data:`STATUS_FILE`),
about once a second from a thread of its own (never on the C-STORE path): who it is, the
associations running now and the last ones that ended or were rejected. Anything that wants to
show more (disk reserve, limits) adds a key to :meth:`vp_log.listener.Listener.status_snapshot`;
``vp-log status --json`` prints the file's keys under ``listener`` as they are.

Whether the listener is up is not taken from that file (a killed listener leaves it behind) but
from the spool lock it holds (:func:`listener_running`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"
RECENT_ASSOCIATIONS = 20
"""How many ended (or rejected) associations the status file keeps."""


def utc_now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class AssociationRecord:
    """One association as ``vp-log status`` shows it."""

    calling_ae: str
    called_ae: str
    address: str
    started_at: str = field(default_factory=utc_now_text)
    ended_at: str | None = None
    outcome: str = "active"
    """``active``, ``released``, ``aborted`` or ``rejected: <reason>``."""
    stored: int = 0
    failed: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status_path(data_dir: Path) -> Path:
    return data_dir / STATUS_FILE


def write_status(data_dir: Path, snapshot: dict[str, Any]) -> None:
    """Replace the status file atomically (no fsync: it is rewritten every second)."""
    path = status_path(data_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(snapshot, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_status(data_dir: Path) -> dict[str, Any] | None:
    """The last status the listener wrote, or ``None`` if it never wrote one (or it is torn)."""
    try:
        data = json.loads(status_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def listener_running(data_dir: Path) -> bool:
    """Whether a ``vp-log listen`` holds this data folder's spool lock right now.

    Probes the lock without waiting (and releases it at once); creates nothing.
    """
    lock = data_dir / "spool" / ".lock"
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
