"""The C-STORE hot path encoded by hand (``vp_log.storescp``): the same bytes as pynetdicom's
and pydicom's encodings, and the same answers through a real guarded server on 127.0.0.1."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.filewriter import write_file_meta_info as pydicom_write_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, XRayAngiographicImageStorage
from pynetdicom import AE, evt
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import create_file_meta as pynetdicom_create_file_meta
from pynetdicom.dsutils import encode
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.pdu_primitives import P_DATA

from conftest import free_port
from listener_support import in_process_listener
from vp_log.listener import STATUS_OUT_OF_RESOURCES, Listener
from vp_log.samples import write_xa_instances
from vp_log.spool import Spool
from vp_log.storescp import FileMeta, encode_p_data, encode_store_response, write_file_meta_info
from vp_log.transport import GuardedServer

UIDS = [
    "1.2.3",  # odd length: padded
    "1.2.34",
    "1.2.826.0.1.3680043.8.498.27735231380701203840292785254831289182",  # 64 characters
]


@pytest.mark.parametrize("instance_uid", UIDS)
@pytest.mark.parametrize(
    ("status", "message_id"), [(0x0000, 1), (0xA700, 65535), (0x0110, 7), (0xB000, 300)]
)
def test_the_response_is_pynetdicoms_encoding(
    instance_uid: str, status: int, message_id: int
) -> None:
    primitive = C_STORE()
    primitive.MessageIDBeingRespondedTo = message_id
    primitive.AffectedSOPClassUID = XRayAngiographicImageStorage
    primitive.AffectedSOPInstanceUID = instance_uid
    primitive.Status = status
    message = C_STORE_RSP()
    message.primitive_to_message(primitive)
    expected = encode(message.command_set, True, True)
    ours = encode_store_response(
        sop_class_uid=XRayAngiographicImageStorage,
        sop_instance_uid=instance_uid,
        message_id=message_id,
        status=status,
    )
    assert ours == expected


@pytest.mark.parametrize("context_id", [1, 255])
def test_the_response_pdu_is_pynetdicoms_encoding(context_id: int) -> None:
    command = encode_store_response(
        sop_class_uid=XRayAngiographicImageStorage,
        sop_instance_uid=UIDS[0],
        message_id=3,
        status=0,
    )
    primitive = P_DATA()
    primitive.presentation_data_value_list.append((context_id, b"\x03" + command))
    assert encode_p_data(context_id, command) == P_DATA_TF(primitive).encode()


@pytest.mark.parametrize("instance_uid", UIDS)
@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_the_file_meta_is_pydicoms_encoding(instance_uid: str, syntax: str) -> None:
    values: dict[str, Any] = {
        "sop_class_uid": XRayAngiographicImageStorage,
        "sop_instance_uid": instance_uid,
        "transfer_syntax": syntax,
    }
    expected = io.BytesIO()
    pydicom_write_file_meta_info(expected, pynetdicom_create_file_meta(**values))  # type: ignore[arg-type]
    ours = io.BytesIO()
    write_file_meta_info(ours, FileMeta(**values))
    assert ours.getvalue() == expected.getvalue()
    # anything else is written by pydicom, as before
    passed = io.BytesIO()
    write_file_meta_info(passed, pynetdicom_create_file_meta(**values))
    assert passed.getvalue() == expected.getvalue()


@dataclass
class Server:
    port: int
    spool: Spool
    listener: Listener


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Server]:
    """The listener's own guarded server and handlers, in this process (no worker)."""
    with in_process_listener(tmp_path) as (listener, spool):
        port = free_port()
        server: GuardedServer = listener.ae.start_guarded_server(
            ("127.0.0.1", port),
            limits=listener.limits,
            ssl_context=None,
            evt_handlers=[(evt.EVT_C_STORE, listener.handle_store)],
        )
        try:
            yield Server(port, spool, listener)
        finally:
            server.shutdown()


def _send(port: int, datasets: list[pydicom.Dataset], bind: list[Any] | None = None) -> list[int]:
    scu = AE(ae_title="STORESCU")
    scu.add_requested_context(XRayAngiographicImageStorage, ExplicitVRLittleEndian)
    assoc = scu.associate("127.0.0.1", port, ae_title="VPLOG", evt_handlers=bind)
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def _datasets(tmp_path: Path, count: int) -> list[pydicom.Dataset]:
    paths = write_xa_instances(tmp_path / "src", count, rows=16, cols=16, seed=5)
    return [pydicom.dcmread(p) for p in paths]


def test_a_guarded_server_stores_and_answers(guarded: Server, tmp_path: Path) -> None:
    datasets = _datasets(tmp_path, 3)
    assert _send(guarded.port, datasets) == [0, 0, 0]
    spooled = [pydicom.dcmread(p) for p in guarded.spool.pending()]
    assert sorted(ds.SOPInstanceUID for ds in spooled) == sorted(
        ds.SOPInstanceUID for ds in datasets
    )
    for ds in spooled:
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_unusual_answers_go_through_pynetdicom(guarded: Server, tmp_path: Path) -> None:
    """A status that is not a storage status, and a handler raising, answer as pynetdicom
    answers them (its own service class, with its log line)."""
    answers = iter([0x0107, STATUS_OUT_OF_RESOURCES, 0x1234])
    store = guarded.listener.handle_store

    def handle(event: evt.Event) -> int:
        store(event)
        status = next(answers, None)
        if status is None:
            raise RuntimeError("a handler that fails")
        return status

    server = guarded.listener.ae._servers[-1]
    server.unbind(evt.EVT_C_STORE, store)
    server.bind(evt.EVT_C_STORE, handle)
    assert _send(guarded.port, _datasets(tmp_path, 4)) == [0x0107, 0xA700, 0x1234, 0xC211]


def test_a_peer_that_watches_the_messages_gets_the_same_answer(
    guarded: Server, tmp_path: Path
) -> None:
    """A handler bound to EVT_DIMSE_SENT on the server sends through pynetdicom's path."""
    sent: list[str] = []
    server = guarded.listener.ae._servers[-1]
    server.bind(evt.EVT_DIMSE_SENT, lambda event: sent.append(type(event.message).__name__))
    assert _send(guarded.port, _datasets(tmp_path, 2)) == [0, 0]
    assert sent == ["C_STORE_RSP", "C_STORE_RSP"]
