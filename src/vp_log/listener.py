"""The DICOM listener: C-ECHO and C-STORE into the durable spool, a worker beside it.

A C-STORE is answered with success only after the instance is fsynced in the spool
(:class:`vp_log.spool.Spool`); any write failure answers 0xA700 (out of resources).
Everything else (parsing, extraction, database) happens in the worker process. With
``receive_processes`` above 1, acceptor processes (:class:`Acceptor`, see
:mod:`vp_log.acceptors`) receive on the listener's socket beside it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_connections
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any, cast

from pynetdicom import _config, evt
from pynetdicom import dimse_messages as _dimse_messages
from pynetdicom.dimse_primitives import C_STORE

from vp_log import storescp
from vp_log.acceptors import AdmissionCounts, run_acceptor
from vp_log.config import Settings, redact_url
from vp_log.dicom import ALL_TRANSFER_SYNTAXES, STORAGE_SOP_CLASSES, VERIFICATION_SOP_CLASS
from vp_log.pipeline import Pipeline
from vp_log.spool import ADMIT_LOCK, DiskReserveError, IncomingFile, Spool
from vp_log.status import RECENT_ASSOCIATIONS, AssociationRecord, utc_now_text, write_status
from vp_log.transport import GuardedAE, GuardedServer, NetworkLimits, make_ssl_context
from vp_log.worker import run_worker

logger = logging.getLogger(__name__)

# DICOM status values (PS3.4 Annex B, PS3.7 Annex C)
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_PROCESSING_FAILURE = 0x0110

WORKER_STOP_TIMEOUT_S = 300.0
"""How long a stopping listener lets the worker finish what is in the spool."""

STATUS_INTERVAL_S = 1.0
"""How often the listener rewrites its status file (``vp-log status``)."""

SHUTDOWN_GRACE_S = 20.0
"""How long a SIGTERM waits for running associations before aborting them."""

ACCEPTOR_START_TIMEOUT_S = 60.0
"""How long the listener waits for its acceptor processes to serve."""

ACCEPTOR_RESTART_S = 5.0
"""An acceptor process that dies is started again after at least this long."""

_receive_hook_lock = threading.Lock()


def install_receive_hook(spool: Spool) -> None:
    """Receive C-STORE data sets straight into ``spool`` (pynetdicom's chunked receive).

    pynetdicom (3.0) streams each data set into ``NamedTemporaryFile(delete=False, ...)``
    looked up in ``pynetdicom.dimse_messages``; we hand it an :class:`IncomingFile` in the
    spool's incoming folder instead, so the rename into the spool stays on one filesystem and
    a write error (disk full) is answered with a status rather than an aborted association.
    """

    def open_incoming(*_args: Any, **_kwargs: Any) -> IncomingFile:
        return spool.open_incoming()

    with _receive_hook_lock:
        _config.STORE_RECV_CHUNKED_DATASET = True
        _dimse_messages.NamedTemporaryFile = open_incoming  # type: ignore[assignment,attr-defined]
        storescp.install(_dimse_messages)  # the file meta ahead of each one, written by hand
        # pynetdicom's "standard" handlers format every PDU and DIMSE message for its
        # INFO/DEBUG lines, which our logging drops (pynetdicom logs at WARNING): their cost
        # was part of each C-STORE's. Servers made from now on bind none of them.
        _config.LOG_HANDLER_LEVEL = "none"


@dataclass(frozen=True)
class TitleCheck:
    """The two AE title checks of an association request, as one log phrase."""

    calling_ok: bool
    called_ok: bool
    text: str

    @property
    def reject_reason(self) -> str | None:
        """The standard A-ASSOCIATE-RJ reason (PS3.8 9.3.4) pynetdicom answers, if any."""
        if not self.calling_ok:
            return "calling AE title not recognised"
        if not self.called_ok:
            return "called AE title not recognised"
        return None


def check_titles(calling: str, called: str, settings: Settings) -> TitleCheck:
    """Judge the calling and called AE titles as the listener's AE is set up to."""
    allowed = settings.allowed_calling_aets
    if not allowed:
        calling_ok, calling_text = True, f"calling AE {calling!r} accepted (no allow-list)"
    elif calling in allowed:
        calling_ok, calling_text = True, f"calling AE {calling!r} on the allow-list"
    else:
        calling_ok, calling_text = False, f"calling AE {calling!r} not on the allow-list"
    ours = settings.ae_title
    if called == ours:
        called_ok, called_text = True, f"called AE {called!r} is ours"
    elif settings.accept_any_called_aet:
        called_ok, called_text = True, f"called AE {called!r} accepted (accept_any_called_aet)"
    else:
        called_ok, called_text = False, f"called AE {called!r} is not ours ({ours!r})"
    return TitleCheck(calling_ok, called_ok, f"{calling_text}, {called_text}")


def _titles(assoc: Any) -> tuple[str, str]:
    """Calling and called AE title of an association request (as sent, trimmed)."""
    request = assoc.requestor.primitive
    return str(request.calling_ae_title).strip(), str(request.called_ae_title).strip()


def make_ae(settings: Settings) -> GuardedAE:
    """The listener's AE: its presentation contexts and association policy (no handlers).

    ``vp_log.conformance`` writes the conformance statement from this very object.
    """
    ae = GuardedAE(ae_title=settings.ae_title)
    ae.maximum_pdu_size = settings.max_pdu_size
    # GuardedServer admits max_associations itself and caps connections at
    # max_connections; pynetdicom's own count (threads) must never bite first, not even
    # while the threads of connections closed to make room are still finishing.
    ae.maximum_associations = 2 * settings.max_connections
    ae.network_timeout = settings.network_timeout_s
    ae.dimse_timeout = settings.network_timeout_s
    ae.acse_timeout = settings.association_timeout_s
    ae.require_calling_aet = list(settings.allowed_calling_aets)
    ae.require_called_aet = not settings.accept_any_called_aet
    ae.add_supported_context(VERIFICATION_SOP_CLASS)
    for uid in STORAGE_SOP_CLASSES:
        ae.add_supported_context(uid, list(ALL_TRANSFER_SYNTAXES))
    return ae


def freeze_start_up_objects() -> None:
    """Take what start-up left alive out of the cyclic garbage collector's rounds.

    The listener holds ~170 000 objects after its imports (pydicom's dictionaries, the
    settings, pynetdicom); each full collection walked all of them, 40-250 ms with the
    interpreter lock held (pynetdicom's server also forces one every 60 loops of its
    accept thread). Measured on 1000 small instances in one association: 2 full and 22
    middle collections, 0.4 s of the listener's 2.8 CPU s, each full one holding up the
    C-STORE behind it (the acknowledgement latency's tail, issue 17). ``gc.freeze`` moves
    them where no collection looks; objects made afterwards are collected as before.
    """
    gc.collect()
    gc.freeze()


class ListenError(RuntimeError):
    """The listener cannot open its port (in use, not allowed, bad address)."""


@dataclass
class AssociationStats:
    calling_ae: str
    address: str
    called_ae: str = ""
    started: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=utc_now_text)
    stored: int = 0
    failed: int = 0
    bytes: int = 0
    studies: set[str] = field(default_factory=set)

    def as_record(self, outcome: str, ended: bool = True) -> dict[str, Any]:
        """The association as ``vp-log status`` shows it (:class:`AssociationRecord`)."""
        return AssociationRecord(
            calling_ae=self.calling_ae,
            called_ae=self.called_ae,
            address=self.address,
            started_at=self.started_at,
            ended_at=utc_now_text() if ended else None,
            outcome=outcome,
            stored=self.stored,
            failed=self.failed,
            bytes=self.bytes,
        ).as_dict()


class Listener:
    """The AE, its handlers and the worker that drains the spool into the database."""

    def __init__(self, settings: Settings, pipeline: Pipeline | None, spool: Spool) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.spool = spool
        self.stopping = threading.Event()
        self._wake: Connection | None = None  # the writing end of the worker's pipe
        self._wake_reader: Connection | None = None  # its reading end, for every worker
        self._acceptors: dict[int, _AcceptorHandle] = {}  # index (1..N-1) -> process
        self._counts: AdmissionCounts | None = None
        self._retiring = threading.Event()  # acceptors told to stop: none is started again
        # Set once they are gone. The watcher, which may have started some of them, lives
        # until then: the kernel kills an acceptor when the thread that started it ends.
        self._acceptors_gone = threading.Event()
        self._worker_lock = threading.Lock()  # worker restart, stop, and writes to the pipe
        self._stats: dict[int, AssociationStats] = {}
        self._stats_lock = threading.Lock()
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_ASSOCIATIONS)
        self._started_at = utc_now_text()
        self._server: GuardedServer | None = None
        self._worker: BaseProcess | None = None
        self.ae = self._make_ae()

    # --- AE ------------------------------------------------------------------------------
    @property
    def limits(self) -> NetworkLimits:
        s = self.settings
        return NetworkLimits(
            association_timeout_s=s.association_timeout_s,
            network_timeout_s=s.network_timeout_s,
            max_pdu_size=s.max_pdu_size,
            max_associations=s.max_associations,
            max_connections=s.max_connections,
        )

    def _make_ae(self) -> GuardedAE:
        return make_ae(self.settings)

    def _ssl_context(self) -> ssl.SSLContext | None:
        s = self.settings
        if s.tls_certificate is None or s.tls_private_key is None:
            return None
        try:
            return make_ssl_context(s.tls_certificate, s.tls_private_key, s.tls_ca_certificates)
        except (ValueError, PermissionError) as exc:
            raise ListenError(str(exc)) from None

    # --- handlers (never raise; status constants only) --------------------------------------
    def handle_echo(self, event: evt.Event) -> int:
        return STATUS_SUCCESS

    def handle_store(self, event: evt.Event) -> int:
        request = cast(C_STORE, event.request)
        sop_uid = str(request.AffectedSOPInstanceUID or "")
        stats = self._stats_for(event)
        incoming = getattr(request, "_dataset_file", None)
        try:
            if not isinstance(incoming, IncomingFile):
                # The receive hook is not in place: refuse rather than keep it in memory.
                logger.error("C-STORE %s arrived without the spool receive hook", sop_uid)
                return STATUS_PROCESSING_FAILURE
            self.spool.commit(incoming, sop_uid)
        except DiskReserveError:  # logged by the spool when refusing starts and ends
            stats.failed += 1
            return STATUS_OUT_OF_RESOURCES
        except OSError as exc:
            logger.error("C-STORE %s from %s refused: %s", sop_uid, stats.calling_ae, exc)
            stats.failed += 1
            return STATUS_OUT_OF_RESOURCES
        except Exception:  # a handler never raises: log, answer a failure, keep listening
            logger.exception("C-STORE %s from %s failed", sop_uid, stats.calling_ae)
            stats.failed += 1
            return STATUS_PROCESSING_FAILURE
        stats.stored += 1
        stats.bytes += incoming.size
        self._notify_worker()
        return STATUS_SUCCESS

    def handle_accepted(self, event: evt.Event) -> None:
        assoc = event.assoc
        calling, called = _titles(assoc)
        stats = AssociationStats(
            calling_ae=calling,
            address=f"{assoc.requestor.address}:{assoc.requestor.port}",
            called_ae=called,
        )
        with self._stats_lock:
            self._stats[id(assoc)] = stats
        check = check_titles(calling, called, self.settings)
        logger.info("association from %s (%s) accepted: %s", calling, stats.address, check.text)

    def handle_rejected(self, event: evt.Event) -> None:
        assoc = event.assoc
        calling, called = _titles(assoc)
        check = check_titles(calling, called, self.settings)
        reason = check.reject_reason or "local limit exceeded (max_associations)"
        rejected = AssociationStats(
            calling_ae=calling,
            address=f"{assoc.requestor.address}:{assoc.requestor.port}",
            called_ae=called,
        )
        self._record_ended(rejected.as_record(f"rejected: {reason}"))
        logger.warning(
            "association from %s (%s:%s) rejected, %s: %s",
            calling,
            assoc.requestor.address,
            assoc.requestor.port,
            reason,
            check.text,
        )

    def handle_closed(self, event: evt.Event, how: str) -> None:
        with self._stats_lock:
            stats = self._stats.pop(id(event.assoc), None)
        if stats is None:
            return
        self._record_ended(stats.as_record(how))
        seconds = time.monotonic() - stats.started
        logger.info(
            "association from %s (%s) %s: %d stored, %d failed, %.1f MB in %.2f s",
            stats.calling_ae,
            stats.address,
            how,
            stats.stored,
            stats.failed,
            stats.bytes / 1e6,
            seconds,
        )

    def _record_ended(self, record: dict[str, Any]) -> None:
        """An association that ended (or was rejected), for ``vp-log status``."""
        with self._stats_lock:
            self._recent.append(record)

    def _stats_for(self, event: evt.Event) -> AssociationStats:
        with self._stats_lock:
            stats = self._stats.get(id(event.assoc))
            if stats is None:
                stats = AssociationStats(calling_ae="?", address="?")
                self._stats[id(event.assoc)] = stats
            return stats

    # --- status (vp-log status) -------------------------------------------------------------
    def status_snapshot(self) -> dict[str, Any]:
        """What ``vp-log status`` shows of this listener; add keys here to show more."""
        s = self.settings
        with self._stats_lock:
            active = [stats.as_record("active", ended=False) for stats in self._stats.values()]
            for handle in self._acceptors.values():
                active += handle.active
            recent = list(reversed(self._recent))
        return {
            "pid": os.getpid(),
            "started_at": self._started_at,
            "updated_at": utc_now_text(),
            "ae_title": s.ae_title,
            "bind_address": s.bind_address,
            "port": s.port,
            "tls": s.tls_certificate is not None,
            "receive_processes": [os.getpid(), *(h.pid for h in self._acceptors.values())],
            "active_associations": active,
            "recent_associations": recent,
        }

    def _write_status(self) -> None:
        try:
            write_status(Path(self.settings.data_dir), self.status_snapshot())
        except OSError as exc:  # status is for people; receiving goes on without it
            logger.warning("cannot write the status file: %s", exc)

    def _keep_status(self) -> None:
        """Rewrite the status file every second (off the C-STORE path), until stopping."""
        while not self.stopping.wait(STATUS_INTERVAL_S):
            self._write_status()

    # --- worker process ---------------------------------------------------------------
    def _open_worker_pipe(self) -> None:
        """The pipe to the worker: kept for the listener's life, so that a worker started
        after one died reads the same pipe the acceptor processes write to."""
        context = multiprocessing.get_context("spawn")
        self._wake_reader, self._wake = context.Pipe(duplex=False)
        os.set_blocking(self._wake.fileno(), False)  # a full pipe never blocks a C-STORE

    def _start_worker(self) -> None:
        """Start a worker; the caller holds ``_worker_lock``."""
        context = multiprocessing.get_context("spawn")
        self._worker = context.Process(
            target=run_worker,
            args=(self.settings.model_dump(), self._wake_reader),
            name="vp-log-worker",
        )
        self._worker.start()

    def _notify_worker(self) -> None:
        """One byte down the pipe: there is work, and we are receiving."""
        with self._worker_lock:
            if self._wake is None:
                return
            # A full pipe already says "wake up"; a dead worker is restarted by the watcher.
            with contextlib.suppress(OSError):
                self._wake.send_bytes(b"w")

    def _watch_worker(self) -> None:
        """Start a new worker if one dies (the spool keeps whatever it had not stored)."""
        restarts = 0
        while not self.stopping.wait(min(1.0 * 2**restarts, 60.0)):
            try:
                self.spool.sweep_abandoned(idle_s=2 * self.settings.network_timeout_s)
                with self._worker_lock:
                    worker = self._worker
                    if self.stopping.is_set() or worker is None or worker.is_alive():
                        continue
                    logger.error("worker exited with %s; starting a new one", worker.exitcode)
                    self._start_worker()
                    restarts = min(restarts + 1, 6)  # one that keeps dying: check less often
            except Exception:  # the watcher must outlive any one failure
                logger.exception("worker watch round failed")

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        ssl_context = self._ssl_context()  # a bad key stops start-up before anything runs
        self.spool.lock()
        mode = Path(self.settings.data_dir).stat().st_mode & 0o777
        if mode & 0o077:
            logger.warning(
                "the data folder %s holds patient data but is open to others (mode %03o); "
                "chmod 700 it",
                self.settings.data_dir,
                mode,
            )
        cleared = self.spool.clear_incoming()
        if cleared:
            logger.info("removed %d partial receptions (never acknowledged)", cleared)
        pending = len(self.spool.pending())
        if pending:  # the worker drains them (in its own process, under the worker lock)
            logger.info("%d spooled instances left from the last run go first", pending)
        install_receive_hook(self.spool)
        self._open_worker_pipe()
        with self._worker_lock:
            self._start_worker()
        threading.Thread(target=self._watch_worker, name="vp-log-watch", daemon=True).start()
        processes = self.settings.receive_processes
        if processes > 1:
            context = multiprocessing.get_context("spawn")
            self._counts = AdmissionCounts(
                context.RawArray("i", processes), self.spool.ready / ADMIT_LOCK
            )
        address = (self.settings.bind_address, self.settings.port)
        try:
            self._server = self.ae.start_guarded_server(
                address,
                limits=self.limits,
                evt_handlers=self._handlers(),
                ssl_context=ssl_context,
                admission=None if self._counts is None else (self._counts, 0),
            )
        except OSError as exc:
            msg = f"cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}"
            raise ListenError(msg) from exc
        if processes > 1:
            self._start_acceptors(processes)
        self._write_status()
        threading.Thread(target=self._keep_status, name="vp-log-status", daemon=True).start()
        freeze_start_up_objects()
        logger.info(
            "listening as %s on %s:%d (data in %s, database %s%s)",
            self.settings.ae_title,
            self.settings.bind_address,
            self.settings.port,
            self.settings.data_dir,
            redact_url(self.settings.db_url),
            f", {processes} receiving processes" if processes > 1 else "",
        )

    def _handlers(self) -> list[Any]:
        return [
            (evt.EVT_C_ECHO, self.handle_echo),
            (evt.EVT_C_STORE, self.handle_store),
            (evt.EVT_ACCEPTED, self.handle_accepted),
            (evt.EVT_REJECTED, self.handle_rejected),
            (evt.EVT_RELEASED, self.handle_closed, ["released"]),
            (evt.EVT_ABORTED, self.handle_closed, ["aborted"]),
        ]

    # --- acceptor processes (receive_processes > 1) -----------------------------------------
    def _start_acceptors(self, processes: int) -> None:
        """Start processes 1..N-1 on our listening socket; wait until each serves."""
        assert self._server is not None
        self._listen_socket = self._server.share_socket()
        for index in range(1, processes):
            self._acceptors[index] = self._spawn_acceptor(index)
        deadline = time.monotonic() + ACCEPTOR_START_TIMEOUT_S
        for handle in self._acceptors.values():
            if not handle.wait_ready(deadline):
                msg = (
                    f"receiving process {handle.index} (receive_processes) did not start: "
                    f"exit code {handle.process.exitcode}"
                )
                raise ListenError(msg)
        threading.Thread(target=self._watch_acceptors, name="vp-log-acceptors", daemon=True).start()

    def _spawn_acceptor(self, index: int) -> _AcceptorHandle:
        context = multiprocessing.get_context("spawn")
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(
            target=run_acceptor,
            args=(
                self.settings.model_dump(),
                index,
                self._listen_socket,
                self._wake,
                self._counts,
                writer,
                os.getpid(),
            ),
            name=f"vp-log-receive-{index}",
        )
        process.start()
        writer.close()
        return _AcceptorHandle(index, process, reader)

    def _watch_acceptors(self) -> None:
        """Take in what the acceptors report; start one again if it dies (not when stopping)."""
        while not self._acceptors_gone.is_set():
            with self._stats_lock:
                handles = list(self._acceptors.values())
            readers = {h.reader: h for h in handles if not h.reader.closed}
            try:
                ready = wait_connections(list(readers), timeout=STATUS_INTERVAL_S)
            except OSError:
                ready = []
            for reader in ready:
                handle = readers[cast(Connection, reader)]
                for record in handle.receive():
                    self._record_ended(record)
            for handle in handles:
                if not handle.process.is_alive() and not self._retiring.is_set():
                    self._restart_acceptor(handle)

    def _restart_acceptor(self, handle: _AcceptorHandle) -> None:
        if time.monotonic() - handle.started < ACCEPTOR_RESTART_S:
            return
        logger.error(
            "receiving process %d exited with %s; starting a new one",
            handle.index,
            handle.process.exitcode,
        )
        handle.reader.close()
        if self._counts is not None:
            self._counts.publish(handle.index, 0)  # its associations died with it
        new = self._spawn_acceptor(handle.index)
        with self._stats_lock:
            self._acceptors[handle.index] = new

    def _retire_acceptors(self) -> None:
        """SIGTERM: each stops accepting and finishes its running associations (bounded)."""
        self._retiring.set()
        with self._stats_lock:
            handles = list(self._acceptors.values())
        for handle in handles:
            if handle.process.is_alive():
                handle.process.terminate()

    def _join_acceptors(self) -> None:
        with self._stats_lock:
            handles = list(self._acceptors.values())
        deadline = time.monotonic() + SHUTDOWN_GRACE_S + 10
        for handle in handles:
            handle.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if handle.process.is_alive():
                logger.error("receiving process %d did not stop; killing it", handle.index)
                handle.process.kill()
                handle.process.join(timeout=10)
            for record in handle.receive():
                self._record_ended(record)
            handle.reader.close()
        self._acceptors_gone.set()

    def stop(self) -> None:
        """Stop accepting, let running associations finish, drain the spool, stop the worker."""
        if self._server is None and self._worker is None:
            return  # start() refused before anything ran (a bad TLS key, a busy spool)
        self._retire_acceptors()
        self._stop_serving()
        self.stopping.set()
        self._join_acceptors()
        self._write_status()  # the last associations, as they ended
        with self._worker_lock:
            if self._wake is not None:
                self._wake.close()  # end of input: the worker drains the spool and exits
                self._wake = None
        if self._worker is not None:
            self._worker.join(timeout=WORKER_STOP_TIMEOUT_S)
            if self._worker.is_alive():
                logger.error(
                    "worker still busy after %.0f s; stopping it (the spool keeps its files)",
                    WORKER_STOP_TIMEOUT_S,
                )
                self._worker.terminate()
                self._worker.join(timeout=10)
            self._worker = None
        if self._wake_reader is not None:
            self._wake_reader.close()
            self._wake_reader = None
        logger.info("listener stopped")

    def _stop_serving(self) -> None:
        """No new associations; running transfers may finish (bounded), then are aborted:
        the peer gets no success for what we did not keep, and re-sends it."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.shutdown()
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        while time.monotonic() < deadline and any(
            a.is_established for a in server.active_associations
        ):
            time.sleep(0.1)
        for assoc in server.active_associations:
            logger.warning(
                "aborting association from %s at shutdown",
                str(assoc.requestor.ae_title).strip(),
            )
            assoc.abort()

    def serve_forever(self) -> None:
        done = threading.Event()

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            logger.info("signal %s: shutting down", signal.Signals(signum).name)
            done.set()

        previous: dict[signal.Signals, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
        try:
            self.start()
            done.wait()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _AcceptorHandle:
    """The listener's side of one acceptor process: the process and its report pipe."""

    def __init__(self, index: int, process: BaseProcess, reader: Connection) -> None:
        self.index = index
        self.process = process
        self.reader = reader
        self.started = time.monotonic()
        self.ready = False
        self.active: list[dict[str, Any]] = []  # its running associations, as last reported

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def wait_ready(self, deadline: float) -> bool:
        while not self.ready and time.monotonic() < deadline:
            if not self.process.is_alive() and not self.reader.poll(0):
                return False
            if self.reader.poll(0.1):
                self.receive()
        return self.ready

    def receive(self) -> list[dict[str, Any]]:
        """Read what it reported; returns the associations that ended."""
        ended: list[dict[str, Any]] = []
        try:
            while not self.reader.closed and self.reader.poll(0):
                report = self.reader.recv()
                self.ready = True
                self.active = list(report.get("active", []))
                ended += report.get("ended", [])
        except (EOFError, OSError):  # it died: the watcher starts another
            self.active = []
            self.reader.close()
        return ended


class Acceptor(Listener):
    """An acceptor process's listener: our handlers on the listener's socket, no worker.

    Its C-STOREs go into the same spool (durable before the ack) and wake the listener's
    worker through the same pipe; what ``vp-log status`` shows of it goes to the listener.
    """

    def __init__(
        self,
        settings: Settings,
        spool: Spool,
        *,
        index: int,
        counts: AdmissionCounts,
        wake: Connection,
        report: Connection,
    ) -> None:
        super().__init__(settings, None, spool)
        self.index = index
        self._counts = self._shared_counts = counts
        self._wake = wake
        self._report = report
        self._unsent: list[dict[str, Any]] = []

    def _record_ended(self, record: dict[str, Any]) -> None:
        with self._stats_lock:
            self._recent.append(record)
            self._unsent.append(record)

    def serve(self, listen_socket: Any) -> None:
        install_receive_hook(self.spool)
        address = (self.settings.bind_address, self.settings.port)
        self._server = self.ae.start_guarded_server(
            address,
            limits=self.limits,
            evt_handlers=self._handlers(),
            ssl_context=self._ssl_context(),
            listen_socket=listen_socket,
            admission=(self._shared_counts, self.index),
        )
        self._send_report()  # the first report says it serves
        freeze_start_up_objects()
        threading.Thread(target=self._keep_reporting, name="vp-log-report", daemon=True).start()

    def _send_report(self) -> None:
        with self._stats_lock:
            active = [stats.as_record("active", ended=False) for stats in self._stats.values()]
            ended, self._unsent = self._unsent, []
        with contextlib.suppress(OSError):  # the listener is gone: we die with it
            self._report.send({"active": active, "ended": ended})

    def _keep_reporting(self) -> None:
        while not self.stopping.wait(STATUS_INTERVAL_S):
            if self._server is not None:
                self._server.publish_admitted()
            self.spool.sweep_abandoned(idle_s=2 * self.settings.network_timeout_s)
            self._send_report()

    def stop(self) -> None:
        self._stop_serving()
        self.stopping.set()
        self._send_report()  # the last associations, as they ended
        with self._worker_lock:
            if self._wake is not None:
                self._wake.close()
                self._wake = None
        self._report.close()


def make_listener(settings: Settings, database: Any) -> Listener:
    spool = Spool(Path(settings.data_dir), reserve_bytes=settings.disk_reserve_mb * 1_000_000)
    return Listener(settings, Pipeline(settings, database, spool), spool)
