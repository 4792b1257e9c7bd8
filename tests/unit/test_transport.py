"""Network limits, the TLS key check, the disk reserve and one-line logging (no sockets)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from vp_log.config import SettingsError, load_settings
from vp_log.spool import DiskReserveError, Spool, disk_space
from vp_log.transport import (
    ASSOCIATE_PDU_LIMIT,
    P_DATA_CEILING,
    P_DATA_SLACK,
    NetworkLimits,
    OneLineFilter,
    check_private_key,
    log_thread_exception,
)


def test_pdu_limits_by_type() -> None:
    limits = NetworkLimits(max_pdu_size=16384)
    assert limits.pdu_limit(0x04) == 16384 + P_DATA_SLACK
    assert limits.pdu_limit(0x01) == limits.pdu_limit(0x02) == ASSOCIATE_PDU_LIMIT
    assert limits.pdu_limit(0x07) == 1024
    assert NetworkLimits(max_pdu_size=0).pdu_limit(0x04) == P_DATA_CEILING
    assert max(limits.pdu_limit(t) for t in range(1, 8)) < 0xFFFFFFFF


@pytest.mark.parametrize(
    ("mode", "refused"), [(0o600, False), (0o640, False), (0o644, True), (0o602, True)]
)
def test_private_key_readable_by_everyone_is_refused(
    tmp_path: Path, mode: int, refused: bool
) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    key.chmod(mode)
    if refused:
        with pytest.raises(PermissionError, match=rf"mode {mode:04o}\): run 'chmod 600 .*key.pem'"):
            check_private_key(key)
    else:
        check_private_key(key)


def test_spool_refuses_below_the_reserve_without_writing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    free = disk_space(tmp_path, 0).free_bytes
    spool = Spool(tmp_path / "data", reserve_bytes=free * 2)
    with caplog.at_level(logging.WARNING):
        first, second = spool.open_incoming(), spool.open_incoming()
    for incoming in (first, second):
        assert isinstance(incoming.error, DiskReserveError)
        incoming.write(b"x" * 100)  # read off the network and dropped
        assert not incoming.path.exists()
        with pytest.raises(DiskReserveError, match=r"\(disk_reserve_mb\): refusing C-STOREs"):
            spool.commit(incoming, "1.2.3")
    assert [r.getMessage() for r in caplog.records].count(
        spool_message := next(r.getMessage() for r in caplog.records)
    ) == 1, "refusing is logged once, not per C-STORE"
    assert "until the worker frees room" in spool_message
    spool.reserve_bytes = 1
    with caplog.at_level(logging.WARNING):
        accepted = spool.open_incoming()
    assert accepted.error is None and accepted.path.exists()
    assert "accepting C-STOREs again" in caplog.records[-1].getMessage()
    accepted.close()


def test_disk_space_describes_the_state(tmp_path: Path) -> None:
    space = disk_space(tmp_path, 1)
    assert not space.below_reserve and "accepting C-STOREs" in space.describe()
    assert disk_space(tmp_path, space.free_bytes * 2).below_reserve


def test_one_line_filter_drops_tracebacks() -> None:
    try:
        raise ValueError("bad\nitem length")
    except ValueError as exc:
        record = logging.LogRecord(
            "pynetdicom.dul", logging.ERROR, "x", 1, exc, None, (type(exc), exc, exc.__traceback__)
        )
        other = logging.LogRecord(
            "pynetdicom.dul",
            logging.ERROR,
            "x",
            1,
            "Unable to decode %s",
            ("PDU",),
            (type(exc), exc, exc.__traceback__),
        )
    assert OneLineFilter().filter(record) and OneLineFilter().filter(other)
    assert record.getMessage() == "ValueError: bad" and record.exc_info is None
    assert other.getMessage() == "Unable to decode PDU: ValueError: bad"


def test_connections_must_exceed_associations() -> None:
    with pytest.raises(
        SettingsError, match=r"max_connections \(16\) must be above max_associations \(16\)"
    ):
        load_settings(max_connections=16, max_associations=16)
    settings = load_settings()
    assert (settings.association_timeout_s, settings.max_connections, settings.disk_reserve_mb) == (
        10.0,
        200,
        512,
    )


def test_uncaught_thread_exception_is_one_line(caplog: pytest.LogCaptureFixture) -> None:
    def fail() -> None:
        raise KeyError("CommandField")

    previous = threading.excepthook
    threading.excepthook = log_thread_exception
    try:
        with caplog.at_level(logging.ERROR):
            thread = threading.Thread(target=fail, name="DUL@127.0.0.1:4242")
            thread.start()
            thread.join(timeout=5)
    finally:
        threading.excepthook = previous
    assert [r.getMessage() for r in caplog.records] == [
        "thread DUL@127.0.0.1:4242 stopped: KeyError: 'CommandField'"
    ]
    assert all(r.exc_info is None for r in caplog.records)


def test_p_data_is_decoded_into_views_of_the_received_buffer() -> None:
    import struct

    from vp_log.transport import decode_p_data

    def item(context: int, control: int, data: bytes) -> bytes:
        return struct.pack(">LBB", len(data) + 2, context, control) + data

    buffer = bytearray(item(1, 0x03, b"command") + item(3, 0x02, b"x" * 1000))
    pdu = decode_p_data(memoryview(buffer))
    values = [
        (i.presentation_context_id, bytes(i.presentation_data_value))
        for i in pdu.presentation_data_value_items
    ]
    assert values == [(1, b"\x03command"), (3, b"\x02" + b"x" * 1000)]
    buffer[-1:] = b"y"  # a view of the buffer, not a copy
    assert bytes(pdu.presentation_data_value_items[1].presentation_data_value)[-1:] == b"y"
    assert pdu.encode()[6:] == bytes(buffer)  # pynetdicom encodes it back as it was
    for bad in (
        buffer[:3],
        buffer + b"\x00\x00\x00\xff\x01\x02",
        struct.pack(">LB", 1, 1) + b"\x00",
    ):
        with pytest.raises(ValueError, match="PDV item"):
            decode_p_data(memoryview(bytearray(bad)))
