"""Durable spool: what the listener acknowledged is on disk before the peer hears "success".

Layout under the data folder::

    spool/.incoming/   instances being received (``*.part``), streamed straight to disk
    spool/             received, fsynced, waiting for the worker (``<ns>-<hash>.dcm``)
    quarantine/        files the worker could not read, each with ``<name>.reason.txt``
    archive/           header-only (or full) copies of processed instances

File names come from hashes and counters, never from attribute text, so a SOP Instance UID
such as ``../../etc/x`` cannot steer a path.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import hashlib
import itertools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from vp_log.text import printable

logger = logging.getLogger(__name__)

REASON_SUFFIX = ".reason.txt"
INFLIGHT = ".inflight"  # the batch the worker is processing (spool folder)
ATTEMPTS = ".attempts.json"  # worker deaths counted per spool file
WORKER_LOCK = ".worker.lock"  # held by the one worker of a spool
ADMIT_LOCK = ".admit.lock"  # taken by receiving processes to admit an association

_counter = itertools.count()
_counter_lock = threading.Lock()

WRITEBACK_BYTES = 4 << 20
"""A large instance being received is handed to the disk every this many bytes."""
_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's ``sync_file_range`` (not in :mod:`os`), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load_sync_file_range()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing ``length`` bytes at ``offset`` of ``fd`` to disk, without waiting.

    Only a head start for the fsync before the acknowledgement (which still waits for every
    byte): while a large instance is received, the disk writes what has arrived instead of
    all of it at the end. Nothing happens where the call does not exist.
    """
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def uid_hash(uid: str) -> str:
    """A file-name-safe digest of a UID (or of any attribute text)."""
    return hashlib.sha256(uid.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def fsync_dir(path: Path | str) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename, fsync the folder.

    With ``sync_dir=False`` the caller fsyncs the folder itself (once for a batch of files).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{_next()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


class BatchWriter:
    """Files written durably as a batch: one flush of the filesystem, not one fsync each.

    :meth:`write` puts the data in a temporary file beside its destination; :meth:`commit`
    makes every temporary file durable (``syncfs`` of the filesystem once where Linux has it,
    an ``fsync`` per file otherwise), renames each into place, and leaves the folders to the
    caller to fsync (as :func:`write_durably` with ``sync_dir=False``). A destination is
    never seen with partial content: it appears only by a rename of a file already on disk.
    :meth:`discard` removes what was not committed.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def __contains__(self, path: object) -> bool:
        return any(dest == path for _, dest in self._pending)

    def write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{_next()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._pending.append((tmp, path))

    def commit(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            if not _syncfs(pending[0][0].parent):
                for tmp, _ in pending:
                    with open(tmp, "rb+") as fh:
                        os.fsync(fh.fileno())
            for tmp, dest in pending:
                os.replace(tmp, dest)
        except BaseException:
            for tmp, _ in pending:
                tmp.unlink(missing_ok=True)
            raise

    def discard(self) -> None:
        pending, self._pending = self._pending, []
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)


def _syncfs(folder: Path) -> bool:
    """Flush the filesystem holding ``folder`` (Linux ``syncfs``); False where there is none.

    Raises the ``OSError`` of a failed flush (Linux reports write-back errors since 5.8).
    """
    syncfs = _libc_syncfs()
    if syncfs is None:
        return False
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(folder))
    finally:
        os.close(fd)
    return True


@functools.cache
def _libc_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    return fn


def _next() -> int:
    with _counter_lock:
        return next(_counter)


class SpoolBusyError(RuntimeError):
    """The data folder's spool is in use by another listener."""


class DiskReserveError(OSError):
    """Free space is below the reserve: a new instance is refused before it is written."""


@dataclass(frozen=True)
class DiskSpace:
    """Free space in a folder's filesystem against the reserve kept for the worker."""

    folder: Path
    free_bytes: int
    reserve_bytes: int

    @property
    def below_reserve(self) -> bool:
        """True when new C-STOREs are refused (0xA700) until the worker frees room."""
        return self.free_bytes < self.reserve_bytes

    def describe(self) -> str:
        """One line, for logs and ``vp-log status``."""
        state = "refusing C-STOREs (0xA700)" if self.below_reserve else "accepting C-STOREs"
        return (
            f"{self.free_bytes / 1e6:.1f} MB free in {self.folder}, reserve "
            f"{self.reserve_bytes / 1e6:.0f} MB (disk_reserve_mb): {state}"
        )


def disk_space(folder: Path, reserve_bytes: int) -> DiskSpace:
    """Free space (for unprivileged users) of ``folder``'s filesystem.

    The listener refuses new instances while it is below ``reserve_bytes``, so the worker
    always has room to archive and store what is already in the spool; ``vp-log status``
    calls this with the same settings to say whether the listener is refusing.
    """
    st = os.statvfs(folder)
    return DiskSpace(folder, st.f_bavail * st.f_frsize, reserve_bytes)


class IncomingFile:
    """A file being received, written straight to disk fragment by fragment.

    Stands in for the ``NamedTemporaryFile`` pynetdicom opens for a chunked C-STORE
    (see :mod:`vp_log.listener`). A write error (disk full, file-size limit) is remembered
    rather than raised inside pynetdicom's reader thread, so the C-STORE handler can answer
    a failure status instead of the association being aborted.
    """

    def __init__(self, path: Path, refused: OSError | None = None) -> None:
        self.name = str(path)
        self.path = path
        self.error: OSError | None = refused
        self.size = 0
        self._written_back = 0  # bytes handed to the disk ahead of the fsync
        self.last_write = time.monotonic()
        # A refused reception writes nothing: its data is read off the network and dropped.
        self._fh: IO[bytes] | None = None if refused else open(path, "wb")  # noqa: SIM115

    @property
    def file(self) -> IncomingFile:
        """pynetdicom calls ``.file.flush()``: that flush must be ours too, to catch ENOSPC."""
        return self

    @property
    def closed(self) -> bool:
        return self._fh is None or self._fh.closed

    def write(self, data: bytes) -> int:
        self.last_write = time.monotonic()
        if self.error is None and self._fh is not None:
            try:
                self._fh.write(data)
                self.size += len(data)
                if self.size - self._written_back >= WRITEBACK_BYTES:
                    self._fh.flush()
                    start_writeback(self._fh.fileno(), self._written_back, 0)
                    self._written_back = self.size
            except OSError as exc:
                logger.error("Cannot write incoming instance %s: %s", self.path.name, exc)
                self.error = exc
        return len(data)

    def flush(self) -> None:
        if self.error is None and self._fh is not None:
            try:
                self._fh.flush()
            except OSError as exc:
                logger.error("Cannot write incoming instance %s: %s", self.path.name, exc)
                self.error = exc

    def sync(self) -> None:
        """flush + fsync; raises the first write error instead."""
        if self.error is not None:
            raise self.error
        if self._fh is None:  # a refused reception: it has its error set, so not reached
            raise OSError(errno.EBADF, "no incoming file")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is None:
            return
        try:
            self._fh.close()
        except OSError as exc:
            self.error = self.error or exc


@dataclass
class Spool:
    """The spool folders of one data folder."""

    data_dir: Path
    reserve_bytes: int = 0
    incoming: Path = field(init=False)
    ready: Path = field(init=False)
    quarantine: Path = field(init=False)
    archive: Path = field(init=False)

    def __post_init__(self) -> None:
        self._open: set[IncomingFile] = set()
        self._open_lock = threading.Lock()
        self._lock_fd: int | None = None
        self._refusing = False  # below the disk reserve at the last reception
        self.ready = self.data_dir / "spool"
        self._ready_text = str(self.ready)
        self.incoming = self.ready / ".incoming"
        self.quarantine = self.data_dir / "quarantine"
        self.archive = self.data_dir / "archive"
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # patient data
        for folder in (self.incoming, self.ready, self.quarantine, self.archive):
            folder.mkdir(parents=True, exist_ok=True)

    # --- receiving ------------------------------------------------------------------------
    def open_incoming(self) -> IncomingFile:
        # the process id too: several receiving processes share the folder (acceptors)
        path = self.incoming / f"{time.time_ns()}-{os.getpid()}-{_next()}.part"
        refused = self._check_reserve()
        if refused is not None:
            return IncomingFile(path, refused)
        incoming = IncomingFile(path)
        with self._open_lock:
            self._open.add(incoming)
        return incoming

    def _check_reserve(self) -> DiskReserveError | None:
        """The refusal for a new instance when free space is below the reserve, else None.

        Logs once when refusing starts and once when it ends, not once per C-STORE (a PACS
        retries continuously).
        """
        if self.reserve_bytes <= 0:
            return None
        try:
            space = disk_space(self.incoming, self.reserve_bytes)
        except OSError as exc:
            return DiskReserveError(exc.errno or errno.EIO, f"cannot read free space: {exc}")
        with self._open_lock:
            changed = space.below_reserve != self._refusing
            self._refusing = space.below_reserve
        if changed and space.below_reserve:
            logger.warning("%s until the worker frees room", space.describe())
        elif changed:
            logger.warning("%s again", space.describe())
        if space.below_reserve:
            return DiskReserveError(errno.ENOSPC, space.describe())
        return None

    def sweep_abandoned(self, idle_s: float) -> int:
        """Close and remove partial receptions idle for ``idle_s`` (aborted associations).

        Never acknowledged, so nothing is lost; without this an aborted transfer would keep
        its disk space (and, on a full disk, keep the disk full) until the next start.
        """
        now = time.monotonic()
        with self._open_lock:
            done = {f for f in self._open if f.closed and not f.path.exists()}
            stale = {f for f in self._open - done if now - f.last_write > idle_s}
            self._open -= done | stale
        for incoming in stale:
            incoming.close()
            incoming.path.unlink(missing_ok=True)
            logger.warning("removed an abandoned partial reception (%d bytes)", incoming.size)
        return len(stale)

    def commit(self, incoming: IncomingFile, sop_instance_uid: str) -> Path:
        """fsync a fully received file and move it into the spool; return its spool path.

        Raises ``OSError`` when anything fails; the partial file is removed then.
        """
        src = incoming.path
        try:
            incoming.sync()
            with self._open_lock:
                self._open.discard(incoming)
            # Names as text: pathlib's joins were a tenth of the listener's CPU per C-STORE.
            name = f"{time.time_ns():020d}-{_next():06d}-{uid_hash(sop_instance_uid)}.dcm"
            dest = f"{self._ready_text}/{name}"
            os.rename(incoming.name, dest)
            fsync_dir(self._ready_text)
        except OSError:
            self.discard(src)
            raise
        return Path(dest)

    def lock(self) -> None:
        """Claim the spool for this listener; a second listener on it is refused.

        Raises :class:`SpoolBusyError`. The lock goes with the process (also on a crash).
        """
        fd = os.open(self.ready / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            msg = (
                f"another vp-log listen already uses the data folder {self.data_dir}; "
                "give each listener its own VP_LOG_DATA_DIR"
            )
            raise SpoolBusyError(msg) from None
        self._lock_fd = fd

    def discard(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            logger.error("Cannot remove partial file %s: %s", path, exc)

    def clear_incoming(self) -> int:
        """Remove partial files of associations that never finished (never acknowledged)."""
        count = 0
        for path in self.incoming.glob("*.part"):
            path.unlink(missing_ok=True)
            count += 1
        return count

    # --- processing -----------------------------------------------------------------------
    @staticmethod
    def received_time(path: Path) -> datetime | None:
        """When a spool file was acknowledged (its name starts with the time in ns)."""
        stamp = path.name.split("-", 1)[0]
        if not stamp.isdigit():
            return None
        return datetime.fromtimestamp(int(stamp) / 1e9, UTC)

    def pending(self, limit: int | None = None) -> list[Path]:
        """Spooled files, oldest first."""
        names = sorted(e.name for e in os.scandir(self.ready) if e.name.endswith(".dcm"))
        if limit is not None:
            names = names[:limit]
        return [self.ready / n for n in names]

    def to_quarantine(
        self,
        path: Path,
        reason: str,
        *,
        kind: str = "invalid",
        limit: str | None = None,
        sop_instance_uid: str | None = None,
        attempts: int | None = None,
        details: str = "",
    ) -> Path:
        """Move ``path`` to quarantine with the reason written beside it; nothing is deleted.

        The reason file (``<name>.reason.txt``, see :func:`format_reason`) starts with the
        reason in one line, then ``key: value`` lines for machines, then the traceback.
        """
        dest = self.quarantine / path.name
        if dest.exists():
            dest = self.quarantine / f"{path.stem}-{time.time_ns()}{path.suffix}"
        reason_file = dest.with_name(dest.name + REASON_SUFFIX)
        text = format_reason(
            QuarantineReason(
                reason=reason,
                kind=kind,
                limit=limit,
                sop_instance_uid=sop_instance_uid,
                attempts=attempts,
                spool_name=path.name,
                quarantined_at=datetime.now(UTC).isoformat(timespec="seconds"),
                details=details,
            )
        )
        write_durably(reason_file, text.encode("utf-8", "backslashreplace"))
        os.replace(path, dest)
        fsync_dir(self.quarantine)
        self.forget_attempts(path.name)
        logger.warning("Quarantined %s: %s", dest.name, printable(reason))
        return dest

    # --- files that kill the worker -----------------------------------------------------
    def begin_batch(self, paths: list[Path]) -> None:
        """Note the files the worker is about to process, until :meth:`end_batch`.

        If the worker dies meanwhile (killed, out of memory, a crash in a C library), the
        next worker finds the note and counts one attempt against each of those files
        (:meth:`recover_attempts`).
        """
        # Not fsynced: the note is for a process that dies, and the page cache outlives it.
        tmp = self.ready / f"{INFLIGHT}.{os.getpid()}.tmp"
        tmp.write_text("\n".join(p.name for p in paths))
        os.replace(tmp, self.ready / INFLIGHT)

    def end_batch(self) -> None:
        (self.ready / INFLIGHT).unlink(missing_ok=True)

    def attempts(self) -> dict[str, int]:
        """Worker deaths counted against spool files, by file name."""
        try:
            data = json.loads((self.ready / ATTEMPTS).read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): int(v) for k, v in data.items() if isinstance(v, int)}

    def _save_attempts(self, attempts: dict[str, int]) -> None:
        if attempts:
            write_durably(self.ready / ATTEMPTS, json.dumps(attempts).encode())
        else:
            (self.ready / ATTEMPTS).unlink(missing_ok=True)

    def recover_attempts(self) -> dict[str, int]:
        """After a worker died in a batch: count an attempt against each file of that batch."""
        inflight = self.ready / INFLIGHT
        try:
            names = [n for n in inflight.read_text().splitlines() if n]
        except FileNotFoundError:
            return self.attempts()
        attempts = self.attempts()
        for name in names:
            if (self.ready / name).exists():
                attempts[name] = attempts.get(name, 0) + 1
        attempts = {n: c for n, c in attempts.items() if (self.ready / n).exists()}
        self._save_attempts(attempts)
        inflight.unlink(missing_ok=True)
        if names:
            logger.warning(
                "the last worker died while processing %d spool files; "
                "they are tried one at a time now",
                len(names),
            )
        return attempts

    def forget_attempts(self, name: str) -> None:
        attempts = self.attempts()
        if attempts.pop(name, None) is not None:
            self._save_attempts(attempts)

    def lock_worker(self, *, wait: Callable[[], bool] | None = None) -> int:
        """Become the one worker of this spool; returns the lock's descriptor.

        A worker left behind by a listener killed with ``kill -9`` keeps draining until it
        is done; a new worker waits for it (``wait()`` is called between tries and returns
        False to give up, raising :class:`SpoolBusyError`).
        """
        fd = os.open(self.ready / WORKER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if not told:
                    logger.warning(
                        "another worker (left by a listener that was killed) still drains "
                        "%s; waiting for it to finish",
                        self.ready,
                    )
                    told = True
                if wait is None or not wait():
                    os.close(fd)
                    raise SpoolBusyError(f"another worker drains the spool {self.ready}") from None

    def archive_path(self, study_instance_uid: str, sop_instance_uid: str) -> Path:
        study = uid_hash(study_instance_uid)
        return self.archive / study[:2] / study / f"{uid_hash(sop_instance_uid)}.dcm"


@dataclass(frozen=True)
class QuarantineReason:
    """Why a file is in quarantine, as written beside it and read back by tools."""

    reason: str
    kind: str = "invalid"
    limit: str | None = None
    sop_instance_uid: str | None = None
    attempts: int | None = None
    spool_name: str | None = None
    quarantined_at: str | None = None
    details: str = ""


_REASON_KEYS = ("kind", "limit", "sop_instance_uid", "attempts", "spool_name", "quarantined_at")


def format_reason(reason: QuarantineReason) -> str:
    """The reason file's text::

        <reason, one line>
        kind: limit
        limit: max_sequence_depth
        sop_instance_uid: 1.2.3
        attempts: 3
        spool_name: 0000...-<hash>.dcm
        quarantined_at: 2026-12-02T01:00:00+00:00

        <traceback or other details>

    ``kind`` is one of ``unreadable``, ``invalid``, ``limit``, ``database``, ``error``,
    ``poison`` (the worker died on it ``attempts`` times). Values are escaped to one line.
    """
    lines = [printable(" ".join(reason.reason.split()))]
    for key in _REASON_KEYS:
        value = getattr(reason, key)
        if value is not None:
            lines.append(f"{key}: {printable(str(value))}")
    text = "\n".join(lines) + "\n"
    if reason.details.strip():
        text += "\n" + reason.details.rstrip() + "\n"
    return text


def read_reason(path: Path) -> QuarantineReason:
    """Parse a reason file written by :func:`format_reason` (or by older versions: one line)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    head, _, details = text.partition("\n\n")
    lines = head.splitlines() or [""]
    values: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(": ")
        if sep and key in _REASON_KEYS:
            values[key] = value
    attempts = values.get("attempts")
    return QuarantineReason(
        reason=lines[0],
        kind=values.get("kind", "invalid"),
        limit=values.get("limit"),
        sop_instance_uid=values.get("sop_instance_uid"),
        attempts=int(attempts) if attempts and attempts.isdigit() else None,
        spool_name=values.get("spool_name"),
        quarantined_at=values.get("quarantined_at"),
        details=details.strip("\n"),
    )
