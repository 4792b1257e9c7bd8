"""The C-STORE service's hot path, without pynetdicom's per-message pydicom datasets.

Profiled on 1000 small instances (one association, ``py-spy --gil``), pynetdicom 3.0 spent
about 1 ms of each C-STORE's ~2 ms of interpreter time building pydicom datasets for two small,
fixed structures: the C-STORE-RSP command set (a ``C_STORE`` primitive with validated UIDs,
then a ``DIMSEMessage`` whose command set is a pydicom ``Dataset``, encoded element by
element) and the File Meta Information written at the head of each received file
(``create_file_meta`` + pydicom's ``write_file_meta_info``). Both are encoded here with
``struct`` into the same bytes (``tests/unit/test_storescp.py`` holds them equal to pynetdicom's
and pydicom's encodings).

The response's P-DATA-TF is sent from the association's thread (``GuardedDUL.send_now``)
when the upper layer is in Sta6 with nothing queued, instead of being queued for the upper
layer's thread: one thread wake-up less between the fsync and the peer hearing "success"
(on a loaded machine each wake-up waits for a core). What is left to pynetdicom: decoding
the C-STORE-RQ command set, the state machine, and the handler call (``evt.EVT_C_STORE``,
the same event and arguments). :func:`serve_store` falls back to pynetdicom's own
``StorageServiceClass.SCP`` whenever anything is out of the ordinary (a handler bound to
``EVT_DIMSE_SENT``, a status that is not a storage status, a response that does not fit in
one PDU of the peer's); a handler bound to ``EVT_PDU_SENT`` gets the response through the
upper layer as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from typing import IO, Any

from pydicom.filewriter import write_file_meta_info as _pydicom_write_file_meta_info
from pynetdicom import (
    PYNETDICOM_IMPLEMENTATION_UID,
    PYNETDICOM_IMPLEMENTATION_VERSION,
    evt,
)
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import create_file_meta as _pynetdicom_create_file_meta
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.service_class import StorageServiceClass

_SERVICE_LOGGER = logging.getLogger("pynetdicom.service_class")

C_STORE_RSP_COMMAND = 0x8001
NO_DATA_SET = 0x0101
STATUS_HANDLER_FAILED = 0xC211
"""What pynetdicom answers when the C-STORE handler raises (PS3.4 GG.4: cannot understand)."""
_COMMAND_HEADER = 0x03  # PDV message control header: a command, its last fragment
_PDV_OVERHEAD = 6  # the PDV item's length (4), context ID (1), control header (1)

_IMPLICIT = struct.Struct("<HHL")  # group, element, value length (implicit VR little endian)
_US = struct.Struct("<HHLH")
_UL = struct.Struct("<HHLL")
_EXPLICIT_SHORT = struct.Struct("<HH2sH")  # group, element, VR, 16-bit length
_EXPLICIT_LONG = struct.Struct("<HH2s2xL")  # OB and the like: 2 reserved bytes, 32-bit length
_P_DATA_HEADER = struct.Struct(">BBL")  # PDU type, reserved, length
_PDV_HEADER = struct.Struct(">LBB")  # item length, presentation context ID, control header


def _even(value: str, pad: bytes) -> bytes:
    data = value.encode("ascii")
    return data + pad if len(data) % 2 else data


def encode_store_response(
    *, sop_class_uid: str, sop_instance_uid: str, message_id: int, status: int
) -> bytes:
    """The C-STORE-RSP command set (PS3.7 9.3.1.2), implicit VR little endian.

    Raises ``UnicodeEncodeError`` for a UID that is not ASCII (the caller falls back).
    """
    class_uid = _even(sop_class_uid, b"\0")
    instance_uid = _even(sop_instance_uid, b"\0")
    body = b"".join(
        (
            _IMPLICIT.pack(0x0000, 0x0002, len(class_uid)) + class_uid,
            _US.pack(0x0000, 0x0100, 2, C_STORE_RSP_COMMAND),
            _US.pack(0x0000, 0x0120, 2, message_id),
            _US.pack(0x0000, 0x0800, 2, NO_DATA_SET),
            _US.pack(0x0000, 0x0900, 2, status),
            _IMPLICIT.pack(0x0000, 0x1000, len(instance_uid)) + instance_uid,
        )
    )
    return _UL.pack(0x0000, 0x0000, 4, len(body)) + body


def encode_p_data(context_id: int, command: bytes) -> bytes:
    """A P-DATA-TF PDU holding ``command`` as one command fragment, its last (PS3.8 9.3.5)."""
    item_length = 2 + len(command)  # context ID and control header, then the fragment
    return (
        _P_DATA_HEADER.pack(0x04, 0, 4 + item_length)
        + _PDV_HEADER.pack(item_length, context_id, _COMMAND_HEADER)
        + command
    )


def _explicit_ui(element: int, value: str) -> bytes:
    data = _even(value, b"\0")
    return _EXPLICIT_SHORT.pack(0x0002, element, b"UI", len(data)) + data


class FileMeta:
    """The File Meta Information pynetdicom writes ahead of a received data set.

    Stands in for ``create_file_meta``'s ``FileMetaDataset`` in ``pynetdicom.dimse_messages``
    (see :func:`install`); :func:`write_file_meta_info` writes it as pydicom would.
    """

    __slots__ = ("_kwargs", "sop_class_uid", "sop_instance_uid", "transfer_syntax")

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self.sop_class_uid = str(kwargs["sop_class_uid"])
        self.sop_instance_uid = str(kwargs["sop_instance_uid"])
        self.transfer_syntax = str(kwargs["transfer_syntax"])

    def encode(self) -> bytes:
        """Group 0002, explicit VR little endian, with its group length first."""
        version = PYNETDICOM_IMPLEMENTATION_VERSION
        name = _even(version, b" ")
        body = b"".join(
            (
                _EXPLICIT_LONG.pack(0x0002, 0x0001, b"OB", 2) + b"\x00\x01",
                _explicit_ui(0x0002, self.sop_class_uid),
                _explicit_ui(0x0003, self.sop_instance_uid),
                _explicit_ui(0x0010, self.transfer_syntax),
                _explicit_ui(0x0012, PYNETDICOM_IMPLEMENTATION_UID),
                _EXPLICIT_SHORT.pack(0x0002, 0x0013, b"SH", len(name)) + name,
            )
        )
        return _EXPLICIT_SHORT.pack(0x0002, 0x0000, b"UL", 4) + struct.pack("<L", len(body)) + body

    def dataset(self) -> Any:
        """pynetdicom's own ``FileMetaDataset`` of the same values."""
        return _pynetdicom_create_file_meta(**self._kwargs)


def create_file_meta(**kwargs: Any) -> FileMeta:
    """``pynetdicom.dsutils.create_file_meta`` for ``dimse_messages``, without a dataset."""
    return FileMeta(**kwargs)


def write_file_meta_info(fp: IO[bytes], file_meta: Any, enforce_standard: bool = True) -> None:
    """pydicom's ``write_file_meta_info``; a :class:`FileMeta` is written from its bytes."""
    if isinstance(file_meta, FileMeta):
        try:
            fp.write(file_meta.encode())
            return
        except UnicodeEncodeError:  # a UID pydicom would write with its own rules
            file_meta = file_meta.dataset()
    _pydicom_write_file_meta_info(fp, file_meta, enforce_standard)  # type: ignore[arg-type]


def install(module: Any) -> None:
    """Put the two stand-ins into ``pynetdicom.dimse_messages`` (the chunked receive's
    only user of them)."""
    module.create_file_meta = create_file_meta
    module.write_file_meta_info = write_file_meta_info


def serve_store(assoc: Any, request: C_STORE, context: Any) -> None:
    """pynetdicom 3.0's ``StorageServiceClass.SCP`` for one C-STORE-RQ, answered by hand.

    The handler bound to ``EVT_C_STORE`` is called as pynetdicom calls it; its status is
    answered with :func:`encode_store_response` in one P-DATA-TF. Anything unusual goes
    through pynetdicom's own service class instead.
    """
    if assoc.get_handlers(evt.EVT_DIMSE_SENT):
        StorageServiceClass(assoc).SCP(request, context)
        return
    context_id = int(context.context_id)
    status: Any = STATUS_HANDLER_FAILED
    assoc.abort = assoc._abort_nonblocking  # as pynetdicom's ``attempt`` around the handler
    try:
        status = evt.trigger(
            assoc, evt.EVT_C_STORE, {"request": request, "context": context.as_tuple}
        )
    except Exception as exc:
        _SERVICE_LOGGER.error("Exception in handler bound to 'evt.EVT_C_STORE'")
        _SERVICE_LOGGER.exception(exc)
    finally:
        assoc.abort = assoc._abort_blocking
        incoming = request._dataset_file
        if incoming:
            incoming.close()
            with contextlib.suppress(OSError):  # as pynetdicom; gone once in the spool
                os.unlink(incoming.name)
    if not assoc.is_established:
        return
    if not send_store_response(assoc, request, context_id, status):
        service = StorageServiceClass(assoc)
        response = C_STORE()
        response.MessageIDBeingRespondedTo = request.MessageID
        response.AffectedSOPInstanceUID = request.AffectedSOPInstanceUID
        response.AffectedSOPClassUID = request.AffectedSOPClassUID
        assoc.dimse.send_msg(service.validate_status(status, response), context_id)


def send_store_response(assoc: Any, request: C_STORE, context_id: int, status: Any) -> bool:
    """Send the C-STORE-RSP for ``status``; False (nothing sent) if it needs pynetdicom's path."""
    if type(status) is not int or status not in StorageServiceClass.statuses:
        return False
    try:
        command = encode_store_response(
            sop_class_uid=str(request.AffectedSOPClassUID),
            sop_instance_uid=str(request.AffectedSOPInstanceUID),
            message_id=int(request.MessageID or 0),
            status=status,
        )
    except UnicodeEncodeError:
        return False
    peer_maximum = assoc.dimse.maximum_pdu_size
    if peer_maximum and len(command) + _PDV_OVERHEAD > peer_maximum:
        return False
    send_now = getattr(assoc.dul, "send_now", None)
    if (
        send_now is not None
        and not assoc.get_handlers(evt.EVT_PDU_SENT)
        and send_now(encode_p_data(context_id, command))
    ):
        return True
    pdata = P_DATA()
    pdata.presentation_data_value_list.append((context_id, bytes((_COMMAND_HEADER,)) + command))
    assoc.dul.send_pdu(pdata)
    return True
