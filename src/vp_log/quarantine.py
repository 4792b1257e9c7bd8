"""The quarantine folder: what the worker could not store, and putting it back.

Each quarantined file ``quarantine/<name>.dcm`` has its reason beside it in
``<name>.dcm.reason.txt`` (written by :meth:`vp_log.spool.Spool.to_quarantine`). Retrying moves
the file back into the spool under its original name, so it keeps the time it was acknowledged,
and the worker of a running listener (or the next ``vp-log listen``) processes it again; if it
still fails it comes back here with a fresh reason. Nothing is deleted but the old reason.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vp_log.spool import REASON_SUFFIX, Spool, fsync_dir, read_reason, uid_hash

logger = logging.getLogger(__name__)

# A spool name (<received ns>-<counter>-<hash>.dcm), maybe with the -<ns> that to_quarantine
# adds when the name was taken.
_SPOOL_NAME = re.compile(r"^(\d{20}-\d{6}-[0-9a-f]{32})(?:-\d+)?\.dcm$")


class QuarantineError(ValueError):
    """A file that is not in the quarantine (the message names it)."""


@dataclass(frozen=True)
class QuarantinedFile:
    path: Path
    reason: str
    """The reason's first line (the file may hold more: kind, limit, a traceback)."""
    kind: str
    quarantined_at: datetime
    """When it was quarantined (the time its reason was written)."""
    size: int

    @property
    def name(self) -> str:
        return self.path.name


def reason_path(path: Path) -> Path:
    return path.with_name(path.name + REASON_SUFFIX)


def list_quarantined(folder: Path) -> list[QuarantinedFile]:
    """The files in the quarantine ``folder``, newest first (creates nothing)."""
    return list(iter_quarantined(folder))


def _newest_first(folder: Path) -> list[tuple[float, str, str]]:
    """``(when, name, path)`` of each quarantined file, newest first: one ``stat`` per file,
    no reason read."""
    if not folder.is_dir():
        return []
    found = []
    for entry in os.scandir(folder):
        if not entry.is_file() or entry.name.endswith(REASON_SUFFIX) or entry.name.startswith("."):
            continue
        try:
            when = os.stat(entry.path + REASON_SUFFIX).st_mtime
        except FileNotFoundError:
            when = entry.stat().st_mtime
        found.append((when, entry.name, entry.path))
    found.sort(reverse=True)
    return found


def count_quarantined(folder: Path) -> int:
    return len(_newest_first(folder))


def iter_quarantined(
    folder: Path, *, limit: int | None = None, offset: int = 0
) -> Iterator[QuarantinedFile]:
    """The quarantined files newest first, each reason read as its file comes; ``limit``
    files after the ``offset`` newest (None: all)."""
    end = None if limit is None else offset + limit
    for _, _, name in _newest_first(folder)[offset:end]:
        path = Path(name)
        why = reason_path(path)
        try:
            parsed = read_reason(why)
            reason, kind, when = parsed.reason, parsed.kind, why.stat().st_mtime
            size = path.stat().st_size
        except FileNotFoundError:  # the reason (or the file: retried meanwhile) is gone
            if not path.is_file():
                continue
            reason, kind = "(no reason recorded)", "unknown"
            when, size = path.stat().st_mtime, path.stat().st_size
        yield QuarantinedFile(
            path=path,
            reason=reason,
            kind=kind,
            quarantined_at=datetime.fromtimestamp(when, UTC),
            size=size,
        )


def find_quarantined(folder: Path, name: str) -> Path:
    """The quarantined file called ``name`` (a name, or a path inside the ``folder``)."""
    candidate = Path(name)
    path = folder / candidate.name
    if candidate.parent not in (Path(), folder) and candidate.resolve().parent != folder.resolve():
        msg = f"{name} is not in the quarantine folder {folder}"
        raise QuarantineError(msg)
    if path.name.endswith(REASON_SUFFIX) or not path.is_file():
        msg = f"no quarantined file {candidate.name} in {folder} (see vp-log quarantine list)"
        raise QuarantineError(msg)
    return path


def retry(spool: Spool, path: Path) -> Path:
    """Move a quarantined file back into the spool; return its spool path.

    The file is renamed (same filesystem) and the spool folder fsynced before the reason is
    removed, so a crash in between leaves the file in the spool, never nowhere.
    """
    try:
        recorded = read_reason(reason_path(path)).spool_name or path.name
    except FileNotFoundError:
        recorded = path.name
    match = _SPOOL_NAME.match(recorded) or _SPOOL_NAME.match(path.name)
    stem = match.group(1) if match else f"{time.time_ns():020d}-000000-{uid_hash(path.name)}"
    dest = spool.ready / f"{stem}.dcm"
    if dest.exists():
        dest = spool.ready / f"{time.time_ns():020d}-000000-{uid_hash(path.name)}.dcm"
    os.rename(path, dest)
    fsync_dir(spool.ready)
    reason_path(path).unlink(missing_ok=True)
    fsync_dir(spool.quarantine)
    logger.info("quarantined %s moved back to the spool as %s", path.name, dest.name)
    return dest
