"""pynetdicom's acceptor with the limits a DICOM node on a hospital network needs.

pynetdicom 3.0 (pinned ``<3.1``) leaves four gaps that a slow, silent or hostile peer can use
to stop the listener; each is closed here by a subclass through pynetdicom's own extension
points (``AE.make_server(server_class=..., request_handler=...)``), not by patching it:

- **TLS in the accept loop.** ``AssociationServer.get_request`` runs the TLS handshake in the
  one thread that accepts connections, with no timeout: one silent TCP connection blocks every
  caller. :class:`GuardedServer` only accepts; :class:`GuardedRequestHandler` does the
  handshake in the connection's own thread, bounded by ``association_timeout_s``.
- **Blocking reads without a deadline.** ``DULServiceProvider._read_pdu_data`` reads a PDU with
  blocking ``recv`` calls: a peer that sends a few bytes and then one byte a minute holds the
  thread for ever, and the ARTIM timer, checked between reads, never fires.
  :class:`GuardedDUL` reads each PDU against a deadline (the ARTIM deadline before the
  association is established, ``network_timeout_s`` per PDU after it).
- **PDU length trusted before reading.** The length field (up to 4 GiB) decides how much is
  read into memory. :class:`GuardedDUL` refuses a PDU longer than what we accept for its type
  before reading its body, and bounds a DIMSE command set.
- **Connections counted as associations.** pynetdicom rejects an A-ASSOCIATE-RQ with "local
  limit exceeded" when it counts more *threads* than ``maximum_associations``, including
  connections that never sent a request: a dozen silent connections lock every caller out.
  :class:`GuardedServer` counts only associations whose request it admitted
  (``max_associations``), and caps open connections separately (``max_connections``). When
  the cap is reached, the oldest connection that has not sent its A-ASSOCIATE-RQ is closed to
  make room, so idle sockets cannot lock a calling PACS out until their ARTIM timeout.

Malformed input is logged as one line naming the peer and what was wrong, never a traceback
(:class:`OneLineFilter` does the same for what pynetdicom itself logs).

pynetdicom's two threads per association (the upper layer's and the association's) poll their
queues with a 1 ms sleep per idle loop, hard-coded: each C-STORE waited for up to two such
sleeps and the GIL hand-overs behind them. Here both wait for work instead
(:class:`GuardedDUL`: the socket and a wake-up socket pair; :class:`GuardedAssociation`: an
event set whenever the upper layer hands it something), bounded by :data:`IDLE_WAIT_S` so that
timers and a stop are still seen.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import ssl
import stat
import struct
import sys
import threading
import time
from contextlib import suppress
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from pydicom.uid import UID
from pynetdicom import AE, _config, evt
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dul import DULServiceProvider
from pynetdicom.fsm import ACTIONS, STATES, TRANSITION_TABLE, InvalidEventError, StateMachine
from pynetdicom.pdu import A_ABORT_RQ, P_DATA_TF
from pynetdicom.pdu_items import PresentationDataValueItem
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import uid_to_service_class
from pynetdicom.transport import (
    AssociationSocket,
    RequestHandler,
    ThreadedAssociationServer,
)

from vp_log.acceptors import YIELD_ACCEPT_S, AdmissionCounts
from vp_log.storescp import serve_store

logger = logging.getLogger(__name__)
_PYNETDICOM_ASSOC_LOGGER = logging.getLogger("pynetdicom.association")

PDU_HEADER_LENGTH = 6
ASSOCIATE_PDU_LIMIT = 1 << 20
"""A-ASSOCIATE-RQ/AC: 128 contexts with every transfer syntax and user identity fit in far less."""
SMALL_PDU_LIMIT = 1024
"""A-ASSOCIATE-RJ, A-RELEASE-RQ/RP and A-ABORT are 4 bytes long by the standard."""
P_DATA_SLACK = 64 * 1024
"""Accepted above the advertised maximum, for peers that count the PDV headers differently."""
P_DATA_CEILING = 64 << 20
"""P-DATA-TF limit when ``max_pdu_size`` is 0 (no maximum advertised)."""
COMMAND_SET_LIMIT = 64 * 1024
"""A DIMSE command set is a few hundred bytes; more is not a command set."""
_PDV_LENGTH = struct.Struct(">L")
IDLE_WAIT_S = 0.05
"""Longest an idle association thread sleeps before it looks at its timers and flags again."""

_PDU_NAMES = {
    0x01: "A-ASSOCIATE-RQ",
    0x02: "A-ASSOCIATE-AC",
    0x03: "A-ASSOCIATE-RJ",
    0x04: "P-DATA-TF",
    0x05: "A-RELEASE-RQ",
    0x06: "A-RELEASE-RP",
    0x07: "A-ABORT",
}

# A-ABORT source and reason (PS3.8 9.3.8)
_ABORT_SOURCE_PROVIDER = 0x02
_ABORT_INVALID_PARAMETER_VALUE = 0x06

# A-ASSOCIATE-RJ result, source, reason (PS3.8 9.3.4): transient, provider (presentation),
# local limit exceeded
_REJECT_LOCAL_LIMIT = (0x02, 0x03, 0x02)


@dataclass(frozen=True)
class NetworkLimits:
    """The limits the acceptor enforces (settings of the same names)."""

    association_timeout_s: float = 10.0
    network_timeout_s: float = 60.0
    max_pdu_size: int = 262144
    max_associations: int = 16
    max_connections: int = 200

    def pdu_limit(self, pdu_type: int) -> int:
        """The longest PDU (its length field) we read for ``pdu_type``."""
        if pdu_type == 0x04:
            if self.max_pdu_size == 0:
                return P_DATA_CEILING
            return self.max_pdu_size + P_DATA_SLACK
        if pdu_type in (0x01, 0x02):
            return ASSOCIATE_PDU_LIMIT
        return SMALL_PDU_LIMIT


def peer_name(address: Any) -> str:
    """``host:port`` of a socket address tuple."""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


_decoding = threading.local()
"""Set while a :class:`GuardedDUL` decodes a PDU (see :class:`OneLineFilter`)."""


class _PeerGone(Exception):
    """The connection ended or stalled while a PDU was read (already logged if need be)."""


_PDU_EVENTS = {
    "Evt3": "A-ASSOCIATE-AC",
    "Evt4": "A-ASSOCIATE-RJ",
    "Evt6": "A-ASSOCIATE-RQ",
    "Evt10": "P-DATA-TF",
    "Evt12": "A-RELEASE-RQ",
    "Evt13": "A-RELEASE-RP",
    "Evt16": "A-ABORT",
}
_PROTOCOL_ERROR_ACTIONS = {"AA-1", "AA-8"}  # "unexpected PDU": A-ABORT (PS3.8 9.2)


def decode_p_data(body: memoryview) -> P_DATA_TF:
    """A P-DATA-TF PDU whose values are views of ``body`` (its bytes after the PDU header).

    pynetdicom 3.0 copies each PDU about six times on its way to the data set file (bytes of
    the bytearray, a slice per field, per item, per value, then ``data[1:]``); a large instance
    paid for each. The values here are memoryviews: the data set is written from the very
    buffer it was received into. Raises ``ValueError`` for an item that does not fit.
    """
    pdu = P_DATA_TF()
    items = []
    offset, end = 0, len(body)
    while offset < end:
        if end - offset < 6:
            msg = f"PDV item at byte {offset} is cut short ({end - offset} bytes left)"
            raise ValueError(msg)
        (length,) = _PDV_LENGTH.unpack_from(body, offset)
        if length < 2 or offset + 4 + length > end:
            msg = f"PDV item length {length} at byte {offset} does not fit its PDU ({end} bytes)"
            raise ValueError(msg)
        item = PresentationDataValueItem()
        item.presentation_context_id = body[offset + 4]
        item.presentation_data_value = body[offset + 5 : offset + 4 + length]  # type: ignore[assignment]
        items.append(item)
        offset += 4 + length
    pdu.presentation_data_value_items = items
    return pdu


class GuardedStateMachine(StateMachine):
    """pynetdicom's state machine; a PDU it cannot act on ends the association, in one line.

    pynetdicom 3.0 re-raises an exception from an action (a P-DATA-TF whose command set is
    not a command set fails in DT-2), which kills the upper layer's thread with a traceback
    and leaves the association without an abort. Here the peer gets an A-ABORT, the log one
    line, and the association ends as any aborted one does.
    """

    dul: GuardedDUL

    def do_action(self, event: str) -> None:
        state = self.current_state
        action_name = TRANSITION_TABLE.get((event, state))
        if action_name is None:
            msg = f"Invalid event '{event}' for the current state '{state}'"
            raise InvalidEventError(msg)
        pdu = _PDU_EVENTS.get(event)
        if pdu is not None and action_name in _PROTOCOL_ERROR_ACTIONS:
            where = (
                "before any A-ASSOCIATE-RQ"
                if state == "Sta2"
                else STATES.get(state, state).split(" (")[0].lower()
            )
            self.dul._note(f"unexpected {pdu} PDU ({where}); aborting")
        try:
            next_state = ACTIONS[action_name][1](self.dul)
        except Exception as exc:  # the peer's data made the action fail: abort, one line
            what = pdu or event
            self.dul._refuse(f"{what} could not be handled ({action_name}): {_describe(exc)}")
            return
        evt.trigger(
            self.dul.assoc,
            evt.EVT_FSM_TRANSITION,
            {
                "action": action_name,
                "current_state": state,
                "fsm_event": event,
                "next_state": next_state,
            },
        )
        self.transition(next_state)


class _WakingQueue(queue.Queue[Any]):
    """A queue that calls ``wake()`` after each put, so its reader need not poll it."""

    def __init__(self, wake: Any) -> None:
        super().__init__()
        self._wake = wake

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._wake()


class _Wakeup:
    """A socket pair a thread can wait on in ``select`` beside its connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = False
        self.reader, self._writer = socket.socketpair()
        self.reader.setblocking(False)
        self._writer.setblocking(False)

    def set(self) -> None:
        with self._lock:
            if self._pending or self._writer.fileno() < 0:
                return  # already woken (one byte is enough), or closed
            self._pending = True
            with contextlib.suppress(OSError):  # full or closed: the reader is awake or gone
                self._writer.send(b"w")

    def clear(self) -> None:
        with self._lock:
            self._pending = False
            try:
                while self.reader.recv(64):
                    pass
            except OSError:  # BlockingIOError: drained
                pass

    def close(self) -> None:
        with self._lock:
            self._writer.close()
            self.reader.close()


class GuardedDUL(DULServiceProvider):
    """The DICOM upper layer, reading each PDU against a deadline and a length limit."""

    def __init__(self, assoc: Association, limits: NetworkLimits, peer: str) -> None:
        self._wakeup: _Wakeup | None = None
        super().__init__(assoc)
        self._wakeup = _Wakeup()
        # Whatever another thread hands the upper layer wakes it; what it hands the
        # association thread wakes that one (GuardedAssociation._work).
        self.event_queue = _WakingQueue(self._wake)
        self.to_provider_queue = _WakingQueue(self._wake)
        self.to_user_queue = _WakingQueue(self._wake_association)
        self.state_machine = GuardedStateMachine(self)
        self.limits = limits
        self.peer = peer
        self.opened = time.monotonic()
        self.name = f"DUL@{peer}"
        self._command_bytes = 0
        self._complained = False  # one line per connection, whatever follows
        self._complain_lock = threading.Lock()
        self.send_lock = threading.Lock()  # one PDU at a time on the socket, from any thread
        self.bytes_received = 0
        self.requested = False  # an A-ASSOCIATE-RQ has been read (state may still be Sta1)
        self.evicted = False  # closed by the server to make room (max_connections)

    # --- waiting for work (instead of pynetdicom's 1 ms polling) ------------------------
    @property
    def _kill_thread(self) -> bool:
        return self.__kill

    @_kill_thread.setter
    def _kill_thread(self, value: bool) -> None:
        self.__kill = value
        if value:
            self._wake()  # stop_dul() waits for the thread to end

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and threading.current_thread() is not self:
            wakeup.set()

    def _wake_association(self) -> None:
        work = getattr(self.assoc, "_work", None)
        if work is not None:
            work.set()

    def _wait_for_work(self) -> None:
        """Until the socket is readable, another thread hands us something, or IDLE_WAIT_S."""
        wakeup = self._wakeup
        sock = self.socket
        raw = sock.socket if sock is not None else None
        if wakeup is None or raw is None:
            time.sleep(self._run_loop_delay)
            return
        if not (self.to_provider_queue.empty() and self.event_queue.empty()):
            return
        if isinstance(raw, ssl.SSLSocket) and raw.pending():
            return  # decrypted bytes wait in the TLS layer; select cannot see them
        try:
            select.select([raw, wakeup.reader], [], [], IDLE_WAIT_S)
        except (OSError, ValueError):  # closed meanwhile: the loop sees it
            return
        wakeup.clear()

    def run_reactor(self) -> None:
        """pynetdicom 3.0's ``DULServiceProvider.run_reactor``, waiting instead of polling."""
        try:
            self._run_waiting()
        finally:
            wakeup, self._wakeup = self._wakeup, None
            if wakeup is not None:
                wakeup.close()

    def _run_waiting(self) -> None:
        self._idle_timer.start()
        idle = False
        while True:
            if not self.assoc._dul_ready.is_set():
                self.assoc._dul_ready.set()
                idle = True
            if idle:
                self._wait_for_work()
            if self._kill_thread:
                break
            # ARTIM first, so that its event is ahead of any other of this loop
            if self.artim_timer.expired:
                self.event_queue.put("Evt18")
            try:
                # either send a primitive or read a PDU per loop, as pynetdicom does
                if self._process_recv_primitive():
                    pass
                elif self._is_transport_event():
                    self._idle_timer.restart()
            except Exception as exc:  # as pynetdicom: A-ABORT past the state machine
                self._note(f"upper layer failed: {_describe(exc)}; aborting", logging.ERROR)
                abort = A_ABORT_RQ()
                abort.source = _ABORT_SOURCE_PROVIDER
                abort.reason_diagnostic = 0x00
                sock = cast(AssociationSocket, self.socket)
                with self.send_lock:
                    sock.send(abort.encode())
                self.assoc.is_aborted = True
                self.assoc.is_established = False
                self.assoc._kill = True
                self._kill_thread = True
                return
            try:
                event = self.event_queue.get(block=False)
            except queue.Empty:
                idle = True
                continue
            self.state_machine.do_action(event)
            idle = False

    # --- sending -------------------------------------------------------------------------
    def _send(self, pdu: Any) -> None:
        with self.send_lock:
            super()._send(pdu)

    def send_now(self, data: bytes) -> bool:
        """Send an encoded P-DATA-TF from the calling thread (the association's), without
        handing it to this one: only in Sta6 with nothing queued ahead of it; False (nothing
        sent) otherwise. Sta6 stays Sta6 after a P-DATA-TF, so the state machine has
        nothing to do for it (PS3.8 9.2, DT-1)."""
        sock = self.socket
        if (
            sock is None
            or self.state_machine.current_state != "Sta6"
            or not self.to_provider_queue.empty()
        ):
            return False
        with self.send_lock:
            sock.send(data)  # a failure queues Evt17, as pynetdicom's own send does
        return True

    # --- reading -------------------------------------------------------------------------
    def _read_pdu_data(self) -> None:
        """Read one PDU (the socket is readable); queue its event, as pynetdicom's does."""
        sock = cast(AssociationSocket, self.socket)
        raw = sock.socket
        if raw is None:
            self.event_queue.put("Evt17")
            return
        state = self.state_machine.current_state
        if not self.requested:  # no A-ASSOCIATE-RQ yet: ARTIM runs from the connection
            deadline = self.opened + self.limits.association_timeout_s
            what = "association_timeout_s"
        else:
            deadline = time.monotonic() + self.limits.network_timeout_s
            what = "network_timeout_s"
        try:
            buffer = self._read_pdu(raw, deadline, what, state)
        except _PeerGone:
            self._close()
            return
        finally:
            if self.socket is not None and sock.socket is not None:
                sock.socket.settimeout(self.limits.network_timeout_s)
        if buffer is None:  # refused or malformed: answered already
            return
        pdu_type, length = buffer[0], len(buffer) - PDU_HEADER_LENGTH
        try:
            _decoding.active = True  # pynetdicom's own lines meanwhile give way to ours
            pdu, event = self._decode(buffer)
        except Exception as exc:  # any decoding failure is the peer's malformed PDU
            name = _PDU_NAMES[pdu_type]
            self._malformed(f"malformed {name} PDU ({length} bytes): {_describe(exc)}", state)
            return
        finally:
            _decoding.active = False
        if isinstance(pdu, P_DATA_TF) and not self._command_set_fits(pdu):
            self._refuse(f"DIMSE command set over {COMMAND_SET_LIMIT} bytes")
            return
        if pdu_type == 0x01:
            self.requested = True
        self.event_queue.put(event)
        self._recv_pdu.put(pdu)

    def _read_pdu(
        self, raw: socket.socket, deadline: float, what: str, state: str
    ) -> bytearray | None:
        """One whole PDU in one buffer the kernel fills (no copy on the way in), or None
        when its header already says it is refused or malformed (answered here)."""
        header = self._receive(raw, PDU_HEADER_LENGTH, deadline, what, at_boundary=True)
        pdu_type, _, length = struct.unpack(">BBL", header)
        name = _PDU_NAMES.get(pdu_type)
        if name is None:
            self._malformed(f"unknown PDU type 0x{pdu_type:02X}", state)
            return None
        limit = self.limits.pdu_limit(pdu_type)
        if length > limit:
            self._refuse(
                f"{name} PDU declares {length} bytes, above the {limit} we accept"
                + (" (max_pdu_size)" if pdu_type == 0x04 else "")
            )
            return None
        buffer = bytearray(PDU_HEADER_LENGTH + length)
        buffer[:PDU_HEADER_LENGTH] = header
        body = memoryview(buffer)[PDU_HEADER_LENGTH:]
        self._receive_into(raw, body, deadline, what, at_boundary=False)
        return buffer

    def _decode(self, buffer: bytearray) -> tuple[Any, str]:
        """pynetdicom's ``_decode_pdu``; a P-DATA-TF (same events) without its copies."""
        if buffer[0] != 0x04:
            return self._decode_pdu(buffer)
        if self.assoc.get_handlers(evt.EVT_DATA_RECV):
            evt.trigger(self.assoc, evt.EVT_DATA_RECV, {"data": bytes(buffer)})
        pdu = decode_p_data(memoryview(buffer)[PDU_HEADER_LENGTH:])
        evt.trigger(self.assoc, evt.EVT_PDU_RECV, {"pdu": pdu})
        return pdu, "Evt10"

    def _receive(
        self, raw: socket.socket, count: int, deadline: float, what: str, *, at_boundary: bool
    ) -> bytes:
        """``count`` bytes by ``deadline``; raises :class:`_PeerGone` (logged) otherwise."""
        data = bytearray(count)
        self._receive_into(raw, memoryview(data), deadline, what, at_boundary=at_boundary)
        return bytes(data)

    def _receive_into(
        self, raw: socket.socket, view: memoryview, deadline: float, what: str, *, at_boundary: bool
    ) -> None:
        """Fill ``view`` by ``deadline``; raises :class:`_PeerGone` (logged) otherwise."""
        got, count = 0, len(view)
        while got < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._log_stall(got, count, what, at_boundary)
                raise _PeerGone
            try:
                raw.settimeout(remaining)
                n = raw.recv_into(view[got:])
            except TimeoutError:
                self._log_stall(got, count, what, at_boundary)
                raise _PeerGone from None
            except OSError as exc:
                if not self._kill_thread and not (at_boundary and not got):
                    self._note(f"connection failed mid-PDU: {_describe(exc)}")
                raise _PeerGone from None
            if not n:
                if got or not at_boundary:
                    self._note(f"connection closed mid-PDU ({got} of {count} bytes)")
                raise _PeerGone
            got += n
            self.bytes_received += n

    def _log_stall(self, got: int, count: int, what: str, at_boundary: bool) -> None:
        if self._kill_thread:
            return  # the association is being closed already
        if what == "association_timeout_s":
            self._note(
                f"no complete A-ASSOCIATE-RQ within {self.limits.association_timeout_s:g} s "
                f"(association_timeout_s); closing"
            )
        else:
            part = "PDU header" if at_boundary else "PDU"
            self._note(
                f"{part} stalled: {got} of {count} bytes in {self.limits.network_timeout_s:g} s "
                f"(network_timeout_s); aborting"
            )

    def _command_set_fits(self, pdu: P_DATA_TF) -> bool:
        for item in pdu.presentation_data_value_items:
            value = item.presentation_data_value or b""
            if not value:
                continue
            control = value[0]
            if control & 0x01:  # a command fragment
                self._command_bytes += len(value) - 1
                if self._command_bytes > COMMAND_SET_LIMIT:
                    return False
                if control & 0x02:  # the last one
                    self._command_bytes = 0
        return True

    # --- what went wrong -------------------------------------------------------------------
    def _note(self, message: str, level: int = logging.WARNING) -> None:
        with self._complain_lock:
            if self._complained:
                return
            self._complained = True
        logger.log(level, "peer %s: %s", self.peer, message)

    def _malformed(self, message: str, state: str) -> None:
        """An invalid PDU: the state machine answers it (A-ABORT), we say what it was."""
        self._note(message)
        if state == "Sta13":  # already closing: do not read what else the peer sends
            self._close()
            return
        self.event_queue.put("Evt19")

    def _refuse(self, message: str) -> None:
        """A PDU we will not read: A-ABORT and close, without reading its body."""
        self._note(f"{message}; aborting")
        abort = A_ABORT_RQ()
        abort.source = _ABORT_SOURCE_PROVIDER
        abort.reason_diagnostic = _ABORT_INVALID_PARAMETER_VALUE
        sock = cast(AssociationSocket, self.socket)
        if sock.socket is not None:
            with self.send_lock:
                sock.send(abort.encode())
        self._close()

    def _close(self) -> None:
        sock = cast(AssociationSocket, self.socket)
        if sock.socket is not None:
            sock.close()  # queues Evt17: the state machine ends the association
        else:
            self.event_queue.put("Evt17")


class GuardedAssociation(Association):
    """An acceptor association whose upper layer is a :class:`GuardedDUL`."""

    def __init__(self, ae: Any, limits: NetworkLimits, peer: str) -> None:
        super().__init__(ae, MODE_ACCEPTOR)
        self.peer = peer
        # Set when the upper layer hands this thread a message or a primitive.
        self._work = threading.Event()
        self.dul = GuardedDUL(self, limits, peer)
        self.dimse.msg_queue = _WakingQueue(self._work.set)
        self._storage_classes: dict[str, bool] = {}  # SOP class UID -> served by serve_store
        # The timers live in the DUL: give the new one the timeouts again.
        self.acse_timeout = limits.association_timeout_s
        self.network_timeout = limits.network_timeout_s
        self.dimse_timeout = limits.network_timeout_s

    def _serve_request(self, msg: Any, context_id: int) -> None:
        """pynetdicom 3.0's ``_serve_request``; a C-STORE of a storage context is served by
        :func:`vp_log.storescp.serve_store` (the same handler, the response encoded by hand)."""
        context = self._accepted_cx.get(context_id)
        if (
            type(msg) is not C_STORE
            or context is None
            or self._sent_release
            or not msg.is_valid_request
            or not self._storage_class(str(msg.AffectedSOPClassUID or ""))
        ):
            super()._serve_request(msg, context_id)
            return
        self.dimse.cancel_req = {}
        self._is_paused = True
        serve_store(self, msg, context)
        self._is_paused = False
        self.dimse.cancel_req = {}

    def _storage_class(self, class_uid: str) -> bool:
        """Whether pynetdicom serves a C-STORE of ``class_uid`` with its storage class."""
        served = self._storage_classes.get(class_uid)
        if served is None:
            extended = self.acceptor.accepted_common_extended.get(UID(class_uid))
            uid = class_uid if extended is None else str(extended[0])
            if _config.UNRESTRICTED_STORAGE_SERVICE:
                uid = "1.2.840.10008.5.1.4.1.1.1"
            served = uid_to_service_class(uid) is StorageServiceClass
            self._storage_classes[class_uid] = served
        return served

    def _run_reactor(self) -> None:
        """pynetdicom 3.0's acceptor loop, waiting for work instead of sleeping 1 ms a loop."""
        self._is_paused = False
        while not self._kill:
            self._work.wait(IDLE_WAIT_S)
            self._work.clear()
            # send_*() may pause the reactor so that it does not take their messages
            self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False
            context_id, msg = self.dimse.get_msg(block=False)
            if msg:
                self._serve_request(msg, cast(int, context_id))
                self._work.set()  # another may be waiting: look again without sleeping
            if self.is_established and self.acse.is_release_requested():
                self.acse.send_release(is_response=True)
                _PYNETDICOM_ASSOC_LOGGER.info("Association Released")
                self.is_released = True
                self.is_established = False
                evt.trigger(self, evt.EVT_RELEASED, {})
                self.kill()
                return
            if self.acse.is_aborted():
                aborted = "Association Aborted"
                if self.acse.is_aborted("a-p-abort"):
                    aborted += " (A-P-ABORT)"
                _PYNETDICOM_ASSOC_LOGGER.info(aborted)
                self.dul.receive_pdu(wait=False)  # so that EVT_ACSE_RECV fires
                self.is_aborted = True
                self.is_established = False
                evt.trigger(self, evt.EVT_ABORTED, {})
                self.kill()
                return
            if not self.dul.is_alive():
                self.kill()
                return
            if self.dul.idle_timer_expired():
                _PYNETDICOM_ASSOC_LOGGER.error("Network timeout reached")
                if self.network_timeout_response == "A-RELEASE":
                    self._is_paused = True
                    self._reactor_checkpoint.wait()
                    self.release()
                    self._is_paused = False
                else:
                    self.abort()
                self.kill()
                return

    def run_reactor(self) -> None:
        super().run_reactor()
        dul = cast(GuardedDUL, self.dul)
        if self.requestor.primitive is None and not dul._complained:
            # A connection that never sent anything (port scans, health checks, stuck peers).
            logger.info(
                "peer %s: connection closed without an A-ASSOCIATE-RQ (association_timeout_s %g s)",
                self.peer,
                dul.limits.association_timeout_s,
            )


class GuardedRequestHandler(RequestHandler):
    """One connection: TLS handshake (bounded) in its own thread, then the association."""

    server: GuardedServer

    def handle(self) -> None:
        server = self.server
        limits = server.limits
        peer = peer_name(self.client_address)
        raw = cast(socket.socket, self.request)
        with server.counting_handshake(raw, peer) as handshake:
            context = server.ssl_context
            if context is not None:
                raw.settimeout(limits.association_timeout_s)
                tls: socket.socket = raw
                try:
                    # wrap_socket takes the descriptor from ``raw``: the server needs the
                    # socket that holds it to close this connection to make room.
                    tls = context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
                    handshake.sock = tls
                    tls.do_handshake()
                    self.request = tls
                except OSError as exc:  # ssl.SSLError and TimeoutError are OSErrors
                    tls.close()
                    if handshake.evicted:  # closed to make room: the server said so
                        return
                    reason = (
                        f"no TLS handshake within {limits.association_timeout_s:g} s "
                        "(association_timeout_s)"
                        if isinstance(exc, TimeoutError)
                        else f"TLS handshake failed: {_describe(exc)}"
                    )
                    logger.warning("peer %s: %s; closing", peer, reason)
                    return
            handshake.done = True  # from here the association's DUL is the one to evict
            cast(socket.socket, self.request).settimeout(limits.network_timeout_s)
            super().handle()

    def _create_association(self) -> Association:
        """As pynetdicom 3.0's ``RequestHandler._create_association``, with our classes."""
        peer = peer_name(self.client_address)
        assoc = GuardedAssociation(self.ae, self.server.limits, peer)
        assoc._server = self.server
        # "AcceptorThread" is how pynetdicom finds the server's associations.
        stamp = datetime.strftime(datetime.now(), "%Y%m%d%H%M%S")
        assoc.name = f"AcceptorThread@{stamp}@{peer}"
        assoc.set_socket(AssociationSocket(assoc, client_socket=self.request))
        assoc.acceptor.maximum_length = self.ae.maximum_pdu_size
        assoc.acceptor.ae_title = self.server.ae_title
        assoc.acceptor.address_info = self.local
        assoc.acceptor.implementation_class_uid = self.ae.implementation_class_uid
        assoc.acceptor.implementation_version_name = self.ae.implementation_version_name
        assoc.acceptor.supported_contexts = deepcopy(self.server.contexts)
        assoc.requestor.address_info = self.remote
        for event in self.server._handlers:
            if event.is_intervention and self.server._handlers[event]:
                assoc.bind(event, *self.server._handlers[event])
            elif isinstance(event, evt.NotificationEvent):
                for handler in self.server._handlers[event]:
                    handler = cast(Any, handler)
                    assoc.bind(event, handler[0], handler[1])
        return assoc


class GuardedServer(ThreadedAssociationServer):
    """Accepts connections (no TLS here), caps them, and admits associations by count.

    With ``listen_socket`` it serves a socket another process bound and listens on (an
    acceptor of :mod:`vp_log.acceptors`); with ``admission`` (the shared counts and this
    process's slot) ``max_associations`` is counted over every receiving process.
    """

    def __init__(
        self,
        *args: Any,
        limits: NetworkLimits,
        listen_socket: socket.socket | None = None,
        admission: tuple[AdmissionCounts, int] | None = None,
        **kwargs: Any,
    ) -> None:
        self.limits = limits
        self._inherited = listen_socket
        self.admission = admission
        self._admitted: set[Association] = set()
        self._handshakes: set[_Counting] = set()  # in their TLS handshake (no association yet)
        self._count_lock = threading.Lock()
        # socketserver listens with a backlog of 5: a burst of connections beyond it waits
        # for the client's SYN retries (1 s, 2 s, ...), which looked like a lock-out.
        self.request_queue_size = min(limits.max_connections, socket.SOMAXCONN)
        kwargs["request_handler"] = GuardedRequestHandler
        super().__init__(*args, **kwargs)
        self.daemon_threads = True
        self.bind(evt.EVT_REQUESTED, self._handle_requested)
        if admission is not None:
            for event in (evt.EVT_RELEASED, evt.EVT_ABORTED, evt.EVT_REJECTED):
                self.bind(event, self._handle_ended)

    # --- the listening socket ------------------------------------------------------------
    def server_bind(self) -> None:
        if self._inherited is None:
            super().server_bind()
            return
        cast(socket.socket, self.socket).close()  # the one socketserver made, unused
        self.socket = self._inherited
        self.server_address = self.socket.getsockname()

    def server_activate(self) -> None:
        if self._inherited is None:  # an inherited socket listens already
            super().server_activate()

    def share_socket(self) -> socket.socket:
        """The listening socket, made non-blocking so that several processes accept on it:
        the one that loses a connection to another gets ``BlockingIOError`` (socketserver
        ignores it) instead of waiting in ``accept`` for the next one."""
        sock = cast(socket.socket, self.socket)
        sock.setblocking(False)
        return sock

    # --- accepting ---------------------------------------------------------------------
    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        """Accept only: the TLS handshake runs in the connection's thread (the handler)."""
        if self.admission is not None:
            counts, index = self.admission
            if counts.fewer_elsewhere(index):  # let a less busy process take it
                time.sleep(YIELD_ACCEPT_S)
        sock = cast(socket.socket, self.socket)
        client, address = sock.accept()
        return client, address

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Make room for a connection at ``max_connections``, or refuse it (closed at once).

        Room is made by closing the oldest open connection that has not sent a complete
        A-ASSOCIATE-RQ (idle, dripping, or in its TLS handshake); a connection is refused
        only when every open one is an association.
        """
        with self._count_lock:
            handshakes = [h for h in self._handshakes if not h.evicted]
        dul_of = (cast(GuardedDUL, a.dul) for a in self.active_associations)
        duls = [d for d in dul_of if isinstance(d, GuardedDUL) and not d.evicted]
        open_now = len(duls) + len(handshakes)
        if open_now < self.limits.max_connections:
            return True
        waiting: list[tuple[float, GuardedDUL | _Counting]] = [
            (d.opened, d) for d in duls if not d.requested
        ]
        waiting += [(h.opened, h) for h in handshakes if not h.done]
        if not waiting:
            logger.warning(
                "peer %s: connection refused: %d connections already open (max_connections)",
                peer_name(client_address),
                open_now,
            )
            return False
        opened, oldest = min(waiting, key=lambda item: item[0])
        message = (
            f"closed after {time.monotonic() - opened:.1f} s without an A-ASSOCIATE-RQ, to make "
            f"room for {peer_name(client_address)} ({open_now} connections open, "
            "max_connections)"
        )
        if isinstance(oldest, GuardedDUL):
            oldest.evicted = True
            oldest._note(message)  # its one line: whatever the closing makes it see is quiet
            sock = cast(AssociationSocket, oldest.socket).socket
        else:
            oldest.evicted = True
            logger.warning("peer %s: %s", oldest.peer, message)
            sock = oldest.sock
        if sock is not None:
            # The connection's own thread sees the end of the stream and closes as usual.
            with suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        return True

    def counting_handshake(self, sock: socket.socket, peer: str) -> _Counting:
        return _Counting(self, sock, peer)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection thread failed: one line, not socketserver's traceback on stderr."""
        exc = sys.exc_info()[1]
        logger.error(
            "peer %s: connection failed: %s",
            peer_name(client_address),
            _describe(exc) if exc else "?",
        )

    # --- admitting -------------------------------------------------------------------------
    def _prune_admitted(self) -> int:
        """Forget associations that ended; the caller holds ``_count_lock``."""
        self._admitted = {
            a
            for a in self._admitted
            if a.is_alive() and not (a.is_released or a.is_aborted or a.is_rejected)
        }
        return len(self._admitted)

    def publish_admitted(self) -> None:
        """Tell the other receiving processes how many associations this one has open."""
        if self.admission is None:
            return
        counts, index = self.admission
        with self._count_lock:
            counts.publish(index, self._prune_admitted())

    def _handle_ended(self, _event: evt.Event) -> None:
        self.publish_admitted()

    def _handle_requested(self, event: evt.Event) -> None:
        """Admit an A-ASSOCIATE-RQ unless ``max_associations`` are already admitted."""
        assoc = event.assoc
        with self._count_lock:
            admitted = self._prune_admitted()
            if self.admission is None:
                ok = admitted < self.limits.max_associations
            else:  # counted over every receiving process
                counts, index = self.admission
                ok, admitted = counts.admit(index, admitted, self.limits.max_associations)
            if ok:
                self._admitted.add(assoc)
                return
        logger.warning(
            "association from %s (%s) rejected: %d associations already open "
            "(max_associations); answered 'local limit exceeded', the caller may retry",
            str(assoc.requestor.primitive.calling_ae_title).strip()
            if assoc.requestor.primitive
            else "?",
            getattr(assoc, "peer", "?"),
            admitted,
        )
        assoc.acse.send_reject(*_REJECT_LOCAL_LIMIT)
        assoc.kill()


class _Counting:
    """Counts a connection in its TLS handshake (before it has an association thread)."""

    def __init__(self, server: GuardedServer, sock: socket.socket, peer: str) -> None:
        self.server = server
        self.sock = sock  # the one that holds the descriptor (the TLS socket once wrapped)
        self.peer = peer
        self.opened = time.monotonic()
        self.evicted = False  # closed by the server to make room (max_connections)
        self.done = False  # the handshake is over (or there is none)

    def __enter__(self) -> _Counting:
        with self.server._count_lock:
            self.server._handshakes.add(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        with self.server._count_lock:
            self.server._handshakes.discard(self)


class OneLineFilter(logging.Filter):
    """pynetdicom's log records in one line: the exception summarised, no traceback.

    Put on a handler (filters on the ``pynetdicom`` logger do not see its child loggers).
    What pynetdicom logs while a :class:`GuardedDUL` decodes a PDU is dropped: the DUL writes
    the one line for it. The peer is taken from the thread name our request handler gives
    each connection's threads.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("pynetdicom"):
            return True
        if getattr(_decoding, "active", False):
            return False  # GuardedDUL logs the one line for a PDU it cannot decode
        message = record.getMessage()
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            message = _describe(exc) if record.msg is exc else f"{message}: {_describe(exc)}"
        thread = threading.current_thread().name
        if "@" in thread:
            message = f"peer {thread.rsplit('@', 1)[1]}: {message}"
        record.msg, record.args = " ".join(message.split()), None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def check_private_key(path: Path) -> None:
    """Refuse a TLS private key other users can read or change (as ssh does).

    Raises ``PermissionError`` with one line naming the file, its mode and the fix. Group
    access is allowed (a key owned by root and readable by the service's group).
    """
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        msg = (
            f"TLS private key {path} is accessible to every user (mode {mode:04o}): "
            f"run 'chmod 600 {path}' (tls_private_key); refusing to start"
        )
        raise PermissionError(msg)


def make_ssl_context(
    certificate: Path, private_key: Path, ca_certificates: Path | None
) -> ssl.SSLContext:
    """A server-side TLS context; raises ``ValueError`` with one line on any problem."""
    try:
        check_private_key(private_key)
    except FileNotFoundError:
        msg = f"TLS private key {private_key} does not exist (tls_private_key)"
        raise ValueError(msg) from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile=certificate, keyfile=private_key)
        if ca_certificates is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=ca_certificates)
    except (OSError, ssl.SSLError) as exc:
        msg = f"cannot use TLS certificate {certificate} / key {private_key}: {_describe(exc)}"
        raise ValueError(msg) from None
    return context


class GuardedAE(AE):
    """An AE whose server is a :class:`GuardedServer` (``make_server(server_class=...)``)."""

    def start_guarded_server(
        self,
        address: tuple[str, int],
        *,
        limits: NetworkLimits,
        ssl_context: ssl.SSLContext | None,
        evt_handlers: list[Any],
        listen_socket: socket.socket | None = None,
        admission: tuple[AdmissionCounts, int] | None = None,
    ) -> GuardedServer:
        """Bind (``OSError`` if the port cannot be had), or serve ``listen_socket``, in a
        daemon thread."""
        server = cast(
            GuardedServer,
            self.make_server(
                address,
                ssl_context=ssl_context,
                evt_handlers=evt_handlers,
                server_class=GuardedServer,
                limits=limits,
                listen_socket=listen_socket,
                admission=admission,
            ),
        )
        threading.Thread(target=server.serve_forever, name="vp-log-accept", daemon=True).start()
        self._servers.append(server)  # as AE.start_server does; server.shutdown() removes it
        return server


def log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """``threading.excepthook``: a thread's uncaught exception as one line, not a traceback.

    The safety net behind the one-line rule: pynetdicom runs two threads per connection, and
    a failure inside one of them (whatever a peer sent) must not print a traceback.
    """
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    what = _describe(args.exc_value) if args.exc_value is not None else args.exc_type.__name__
    logger.error("thread %s stopped: %s", name, what)
