"""The worker: drains the spool into the database, in a process of its own.

The listener only receives and fsyncs; parsing, extraction, archiving and assembly run here.
A separate process (not a thread) keeps this work from competing with pynetdicom's receive
threads for the interpreter lock: measured on benchmark set A (1000 small instances) a worker
thread made receiving about 4x slower.

The listener talks to the worker through one pipe and nothing else: a byte per acknowledged
C-STORE wakes it (and tells it the listener is busy receiving); the pipe closing (listener
stopping, or dying) tells it to finish what is in the spool and exit. No lock is shared, so a
worker that is killed cannot block the listener, and the spool keeps whatever it had not stored.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from vp_log.config import Settings
from vp_log.db import Database
from vp_log.db.errors import DatabaseError
from vp_log.limits import limit_memory
from vp_log.pipeline import Outcome, Pipeline
from vp_log.spool import Spool, SpoolBusyError
from vp_log.text import configure_logging

logger = logging.getLogger(__name__)

NICE_INCREMENT = 10
"""The worker yields the CPU to the receiving process when both want it."""

RECEIVING_IDLE_S = 0.3
"""The listener counts as receiving while its last C-STORE is younger than this."""

MIN_DEFER_S = 5.0
MAX_DEFER_S = 60.0


def defer_limit(quiet_period_s: float) -> float:
    """While the listener receives, spooled files wait at most this long for the worker:
    a quarter of the quiet period, at least :data:`MIN_DEFER_S`, at most :data:`MAX_DEFER_S`.

    Deferring keeps the worker's CPU, fsyncs and database writes away from the listener while
    it acknowledges a stream (issue 17: a worker starting after 5 s of a stream made the
    acknowledgements 6x slower); a study cannot be complete before its quiet period is over,
    so its files can wait a fraction of it. The bound keeps a PACS that never pauses from
    starving the records.
    """
    return min(max(MIN_DEFER_S, quiet_period_s / 4), MAX_DEFER_S)


MAX_BACKOFF_S = 30.0

RETRY_COMPLETION_S = 1.0
"""A quiet study whose record could not be completed is tried again after this."""

IDLE_POLL_S = 10.0
"""Without a wake-up from the listener, the worker looks at the spool and the database this
often (a study another process left `receiving`, files spooled before it started)."""


def never_busy() -> bool:
    return False


def drain(
    pipeline: Pipeline,
    *,
    batch_size: int = 200,
    assemble_every_s: float = 2.0,
    busy: Callable[[], bool] = never_busy,
    check_all: bool = True,
    defer_s: float = MIN_DEFER_S,
) -> int:
    """Process everything in the spool now, then bring the records up to date.

    Records are brought up to date for the studies this call stored instances of
    (:meth:`Pipeline.update_records`), while instances keep arriving at most every
    ``assemble_every_s``. ``check_all`` also looks for every study whose record is behind its
    instances (:meth:`Pipeline.assemble_stale`, a query over the whole store): what a dead
    worker left, for the first round of a worker. While ``busy()`` (the listener is
    receiving), files younger than ``defer_s`` (see :func:`defer_limit`) wait.

    Files the last worker died on (see :meth:`Spool.recover_attempts`) are processed first,
    one at a time; one that has killed ``max_attempts`` workers is quarantined as poison.
    """
    spool = pipeline.spool
    handled = 0
    touched: set[str] = set()
    suspects = spool.recover_attempts()
    if suspects:
        handled += _process_suspects(pipeline, suspects, touched)
    last_assembly = time.monotonic()
    while paths := spool.pending(limit=batch_size):
        received = spool.received_time(paths[0])
        if received is not None:
            _defer(busy, until=received + timedelta(seconds=defer_s))
        touched |= _process_batch(pipeline, paths)
        handled += len(paths)
        if time.monotonic() - last_assembly >= assemble_every_s:
            pipeline.update_records(touched)
            touched.clear()
            last_assembly = time.monotonic()
    if check_all:
        pipeline.assemble_stale()
    else:
        pipeline.update_records(touched)
    return handled


def _defer(busy: Callable[[], bool], *, until: datetime) -> None:
    """Wait while the listener receives, until ``until`` at the latest.

    The spool is not looked at meanwhile: its oldest file stays the oldest, and listing a
    spool that grows by thousands of files every 50 ms cost the listener's CPU.
    """
    while busy() and datetime.now(UTC) < until:
        time.sleep(0.05)


def _process_batch(pipeline: Pipeline, paths: list[Path]) -> set[str]:
    """Process ``paths``, noted as in flight so that a worker's death is counted against them.

    Returns the studies that got new instances.
    """
    pipeline.spool.begin_batch(paths)
    try:
        results = pipeline.process(paths, received_from="dicom", from_spool=True)
    finally:  # an exception is not a death: the disk or the database, tried again later
        pipeline.spool.end_batch()
    return {
        r.study_instance_uid for r in results if r.outcome is Outcome.NEW and r.study_instance_uid
    }


def _process_suspects(pipeline: Pipeline, attempts: dict[str, int], touched: set[str]) -> int:
    spool = pipeline.spool
    limit = pipeline.settings.max_attempts
    done = 0
    for name, count in sorted(attempts.items()):
        path = spool.ready / name
        if not path.exists():
            spool.forget_attempts(name)
            continue
        if count >= limit:
            spool.to_quarantine(
                path,
                f"poison file: the worker died {count} times while processing it "
                f"(killed, out of memory, or a crash inside a library); limit max_attempts",
                kind="poison",
                limit="max_attempts",
                attempts=count,
                details=(
                    "The worker process ended without a Python exception while this file "
                    "was being processed, so there is no traceback; the listener's log has "
                    "the worker's exit code."
                ),
            )
        else:
            touched |= _process_batch(pipeline, [path])
            spool.forget_attempts(name)
        done += 1
    return done


class _Signals:
    """The reading end of the listener's pipe: wake-ups, busyness, end of the listener."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.last_store = 0.0
        self.closed = False

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` for a wake-up; swallow every byte that is waiting."""
        try:
            if self.conn.poll(timeout):
                while self.conn.poll(0):
                    self.conn.recv_bytes()
                    self.last_store = time.monotonic()
        except (EOFError, OSError):
            self.closed = True

    def busy(self) -> bool:
        self.wait(0)
        return not self.closed and time.monotonic() - self.last_store < RECEIVING_IDLE_S


def error_kind(exc: BaseException) -> str:
    """What kind of failure this is, without the parts that change every time (parameters)."""
    cause = exc.__cause__ if isinstance(exc, DatabaseError) else None
    orig = getattr(cause if cause is not None else exc, "orig", None)
    kind = type(exc).__name__
    if orig is not None:
        kind += f"/{type(orig).__name__}:{getattr(orig, 'sqlstate', '') or ''}"
    elif isinstance(exc, OSError):
        kind += f":{exc.errno}"
    return kind


class Worker:
    """The rounds of one worker: what it must still look at, and when the next study is due.

    An idle worker costs nothing that grows with the store: a round with nothing in the spool
    asks the database nothing, except, when the first `receiving` study's quiet period is
    over, to complete it, and then when the next one is due (one index lookup). Only the
    first round of a worker, and the round after one that failed, look for stale records
    over the whole store (issue 17: 110 ms at 50 000 studies, twice a second, before).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.defer_s = defer_limit(pipeline.settings.quiet_period_s)
        self.check_all = True
        self.due = 0.0  # time.monotonic() when a quiet study is to be completed (0: now)
        self.looked = 0.0  # time.monotonic() of the last look at the database for that

    def round(self, busy: Callable[[], bool] = never_busy) -> None:
        stored = drain(self.pipeline, busy=busy, check_all=self.check_all, defer_s=self.defer_s)
        self.check_all = False
        now = time.monotonic()
        completed = now >= self.due
        if completed:
            self.pipeline.complete_quiet_studies()
        if stored or completed or now - self.looked >= IDLE_POLL_S:
            self._look(retry_s=RETRY_COMPLETION_S if completed else 0.0)

    def failed(self) -> None:
        """A round failed: what it stored may have no record yet; look at everything next."""
        self.check_all = True
        self.due = 0.0

    def wait_s(self) -> float:
        """How long to wait for a wake-up before the next round."""
        return max(0.0, min(self.due - time.monotonic(), IDLE_POLL_S))

    def _look(self, retry_s: float) -> None:
        """When the next study is due; one that is due already (its record could not be
        completed just now) is tried again after ``retry_s``."""
        due = self.pipeline.next_quiet_time()
        self.looked = time.monotonic()
        if due is None:
            self.due = self.looked + IDLE_POLL_S
        else:
            left = (due - self.pipeline.clock()).total_seconds()
            self.due = self.looked + (left + 0.05 if left > 0 else retry_s)


def work(pipeline: Pipeline, conn: Connection, *, signals: _Signals | None = None) -> None:
    """Drain when woken and complete quiet studies when they are due, until the pipe closes.

    Without a wake-up the worker still looks at the spool and the database every
    :data:`IDLE_POLL_S`. A failing round (disk full, database down) is logged once per kind
    of error and retried with a growing pause; the files wait in the spool.
    """
    signals = signals or _Signals(conn)
    worker = Worker(pipeline)
    backoff = 0.0
    last_error = ""
    while not signals.closed:
        if backoff:  # wake-ups do not shorten a pause after a failure; the pipe closing does
            deadline = time.monotonic() + backoff
            while not signals.closed and (left := deadline - time.monotonic()) > 0:
                signals.wait(left)
        else:
            signals.wait(worker.wait_s())
        try:
            worker.round(busy=signals.busy)
        except Exception as exc:
            worker.failed()
            error = error_kind(exc)
            if error != last_error:
                logger.exception("worker round failed; files stay in the spool")
                last_error = error
            backoff = min(max(backoff * 2, 1.0), MAX_BACKOFF_S)
        else:
            if last_error:
                logger.info("worker recovered after: %s", last_error)
            backoff, last_error = 0.0, ""
    try:
        drain(pipeline)
    except Exception:
        logger.exception("final drain failed; files stay in the spool for the next start")


def run_worker(settings_data: dict[str, Any], conn: Connection) -> None:
    """Entry point of the worker process (``multiprocessing``, spawn start method).

    The worker holds the spool's worker lock for its whole life: one worker per spool, even
    when a listener killed with ``kill -9`` left its worker draining (the new one waits).
    Its address space is capped at ``max_memory_mb`` (``RLIMIT_AS``): a file that makes it
    grow ends in a ``MemoryError`` that quarantines that file.
    """
    # Ctrl-C in a terminal reaches the whole process group: the listener answers it and
    # closes the pipe, which is how this worker is told to finish the spool and stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = Settings(**settings_data)
    configure_logging(settings.log_level)
    try:
        os.nice(NICE_INCREMENT)
    except OSError:
        logger.debug("could not lower the worker's priority")
    signals = _Signals(conn)
    spool = Spool(settings.data_dir)

    def keep_waiting() -> bool:
        signals.wait(0.5)
        return not signals.closed

    try:
        lock = spool.lock_worker(wait=keep_waiting)
    except SpoolBusyError:
        logger.info("the listener stopped while another worker drained the spool")
        return
    limit_memory(settings.max_memory_mb)
    database = Database(settings.db_url, upgrade=False)
    try:
        work(Pipeline(settings, database, spool), conn, signals=signals)
    finally:
        database.dispose()
        os.close(lock)
