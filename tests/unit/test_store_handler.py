"""The C-STORE handler in process: a real pynetdicom server on 127.0.0.1, the exact status.

``Listener.handle_store`` is bound to a server started in this process
(``start_server(..., block=False)``, as pynetdicom's own tests do) with the spool receive hook
in place; a pynetdicom SCU sends data sets from memory and the status it gets back is asserted
directly. No worker process, no dcmtk: the dcmtk tests in tests/system cover the same answers
end to end.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, XRayAngiographicImageStorage
from pynetdicom import AE, evt

from conftest import free_port
from listener_support import in_process_listener
from vp_log.listener import (
    STATUS_OUT_OF_RESOURCES,
    STATUS_SUCCESS,
)
from vp_log.samples import write_xa_instances
from vp_log.spool import Spool


@dataclass
class Server:
    port: int
    spool: Spool


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with in_process_listener(tmp_path) as (listener, spool):
        port = free_port()
        running = listener.ae.start_server(
            ("127.0.0.1", port),
            block=False,
            evt_handlers=[(evt.EVT_C_STORE, listener.handle_store)],
        )
        assert running is not None  # block=False returns the server
        try:
            yield Server(port, spool)
        finally:
            running.shutdown()


def _dataset(tmp_path: Path, *, rows: int, seed: int) -> Dataset:
    (path,) = write_xa_instances(tmp_path / f"src-{seed}", 1, rows=rows, cols=rows, seed=seed)
    return pydicom.dcmread(path)


def _send(port: int, dataset: Dataset) -> int:
    scu = AE(ae_title="STORESCU")
    scu.add_requested_context(XRayAngiographicImageStorage, ExplicitVRLittleEndian)
    assoc = scu.associate("127.0.0.1", port, ae_title="VPLOG")
    assert assoc.is_established
    try:
        status = assoc.send_c_store(dataset)
        code: int = status.Status
        return code
    finally:
        assoc.release()


def test_success_only_after_the_file_is_in_the_spool(server: Server, tmp_path: Path) -> None:
    started = time.monotonic()
    dataset = _dataset(tmp_path, rows=32, seed=1)
    assert _send(server.port, dataset) == STATUS_SUCCESS == 0x0000
    (spooled,) = server.spool.pending()
    assert pydicom.dcmread(spooled).SOPInstanceUID == dataset.SOPInstanceUID
    assert not any(server.spool.incoming.iterdir())
    assert time.monotonic() - started < 5  # in practice well under a second


def test_a_write_error_answers_out_of_resources(server: Server, tmp_path: Path) -> None:
    big = _dataset(tmp_path, rows=512, seed=2)  # ~0.5 MB of pixel data
    small = _dataset(tmp_path, rows=16, seed=3)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # Files past 100 kB now fail with EFBIG (CPython ignores SIGXFSZ): a real write error
    # in the spool, the same path as a full disk.
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, hard))
    try:
        status = _send(server.port, big)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert status == STATUS_OUT_OF_RESOURCES == 0xA700
    assert server.spool.pending() == [], "nothing half-written is kept"
    assert not any(server.spool.incoming.iterdir())
    # The listener goes on: the next instance is stored and acknowledged.
    assert _send(server.port, small) == STATUS_SUCCESS
    assert len(server.spool.pending()) == 1
