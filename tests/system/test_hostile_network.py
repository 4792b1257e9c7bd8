"""Slow, silent, oversized and malformed peers must never stop the listener answering C-ECHO.

Raw sockets on 127.0.0.1 only; every connection count and every wait is bounded.
"""

from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import pytest

from conftest import echoscu, make_certificate, require_dcmtk, wait_for

ARTIM_S = 3.0
NETWORK_S = 5.0
VERIFICATION = b"1.2.840.10008.1.1"
IMPLICIT_LE = b"1.2.840.10008.1.2"


# --- raw PDUs ----------------------------------------------------------------------------
def _item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(value)) + value


def associate_rq(called: bytes = b"VPLOG", calling: bytes = b"RAWSOCK") -> bytes:
    """A well-formed A-ASSOCIATE-RQ proposing Verification (PS3.8 9.3.2)."""
    context = (
        struct.pack(">BBBB", 1, 0, 0, 0) + _item(0x30, VERIFICATION) + _item(0x40, IMPLICIT_LE)
    )
    user = _item(0x51, struct.pack(">L", 16384))
    body = (
        struct.pack(">HH", 1, 0)
        + called.ljust(16)
        + calling.ljust(16)
        + bytes(32)
        + _item(0x10, b"1.2.840.10008.3.1.1.1")
        + _item(0x20, context)
        + _item(0x50, user)
    )
    return struct.pack(">BBL", 0x01, 0, len(body)) + body


def p_data(pdvs: list[tuple[int, int, bytes]]) -> bytes:
    """A P-DATA-TF PDU of (context id, control header, data) PDVs."""
    body = b"".join(struct.pack(">LBB", len(d) + 2, cid, ctl) + d for cid, ctl, d in pdvs)
    return struct.pack(">BBL", 0x04, 0, len(body)) + body


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def associate(port: int) -> socket.socket:
    """A raw connection with an accepted association."""
    sock = connect(port)
    sock.sendall(associate_rq())
    header = recv_exact(sock, 6)
    assert header[0] == 0x02, f"expected A-ASSOCIATE-AC, got PDU type {header[0]:#x}"
    recv_exact(sock, struct.unpack(">L", header[2:])[0])
    return sock


def recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def closed_by_peer(sock: socket.socket, within: float) -> bool:
    """True when the listener closes (or aborts) the connection within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except OSError:
            return True
    return False


def echo_ok(port: int, **kwargs: str) -> bool:
    done = echoscu(port, **kwargs)
    return done.returncode == 0


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextmanager
def drippers(
    port: int, count: int, payload: bytes, interval: float
) -> Iterator[list[socket.socket]]:
    """``count`` connections sending ``payload`` one byte every ``interval`` s."""
    stop = threading.Event()
    socks = [connect(port) for _ in range(count)]

    def drip() -> None:
        for i in range(len(payload)):
            if stop.wait(interval):
                return
            for s in socks:
                with suppress(OSError):
                    s.send(payload[i : i + 1])

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        yield socks
    finally:
        stop.set()
        thread.join(timeout=5)
        for s in socks:
            s.close()


@pytest.fixture
def guarded(listener_factory: object) -> object:
    require_dcmtk()
    return listener_factory(  # type: ignore[operator]
        VP_LOG_ASSOCIATION_TIMEOUT_S=str(ARTIM_S),
        VP_LOG_NETWORK_TIMEOUT_S=str(NETWORK_S),
        VP_LOG_MAX_ASSOCIATIONS="4",
        VP_LOG_MAX_CONNECTIONS="120",
        VP_LOG_DISK_RESERVE_MB="0",
    )


def assert_one_line_log(log: str) -> None:
    assert "Traceback" not in log, log[-3000:]
    assert "Exception in" not in log, log[-3000:]


# --- the cases ---------------------------------------------------------------------------
def test_echo_answered_while_50_silent_and_slow_connections_are_open(guarded: object) -> None:
    lst = guarded
    port = lst.port  # type: ignore[attr-defined]
    with ExitStack() as stack:
        silent = [stack.enter_context(connect(port)) for _ in range(25)]
        slow = stack.enter_context(drippers(port, 25, associate_rq(), interval=0.4))
        time.sleep(0.5)
        started = time.monotonic()
        answers = [echo_ok(port) for _ in range(3)]
        took = time.monotonic() - started
        assert all(answers), lst.log()  # type: ignore[attr-defined]
        assert took < 10, f"3 C-ECHOs took {took:.1f} s with 50 hostile connections open"
        # Neither kind outlives the association (ARTIM) timeout by much.
        assert all(closed_by_peer(s, ARTIM_S + 4) for s in silent)
        assert all(closed_by_peer(s, 3) for s in slow)
    log = lst.log()  # type: ignore[attr-defined]
    assert log.count("no complete A-ASSOCIATE-RQ within 3 s") == 25, log[-3000:]
    assert log.count("connection closed without an A-ASSOCIATE-RQ") == 25, log[-3000:]
    assert_one_line_log(log)
    assert echo_ok(port)


def test_fifteen_silent_connections_do_not_lock_callers_out(guarded: object) -> None:
    port = guarded.port  # type: ignore[attr-defined]
    with ExitStack() as stack:
        for _ in range(15):
            stack.enter_context(connect(port))
        time.sleep(0.3)
        assert [echo_ok(port) for _ in range(5)] == [True] * 5


EVICTED = "without an A-ASSOCIATE-RQ, to make room for 127.0.0.1:"


def test_full_connection_table_makes_room_by_closing_the_oldest_idle_one(
    listener_factory: object,
) -> None:
    require_dcmtk()
    lst = listener_factory(  # type: ignore[operator]
        VP_LOG_ASSOCIATION_TIMEOUT_S="60",  # ARTIM must not be what frees the room here
        VP_LOG_MAX_ASSOCIATIONS="4",
        VP_LOG_MAX_CONNECTIONS="8",
        VP_LOG_DISK_RESERVE_MB="0",
    )
    port = lst.port  # type: ignore[attr-defined]
    with ExitStack() as stack:
        silent = []
        for _ in range(8):
            silent.append(stack.enter_context(connect(port)))
            time.sleep(0.05)  # an order the listener sees: the first is the oldest
        time.sleep(0.5)
        started = time.monotonic()
        assert echo_ok(port), lst.log()  # type: ignore[attr-defined]
        assert time.monotonic() - started < 5
        assert closed_by_peer(silent[0], 3)
        # One eviction made room; the echo's own connection has gone, so no second one.
        assert [echo_ok(port) for _ in range(2)] == [True, True]
        assert not any(closed_by_peer(s, 0.2) for s in silent[1:])
        log = lst.log()  # type: ignore[attr-defined]
        (line,) = [x for x in log.splitlines() if EVICTED in x]
        assert f"peer 127.0.0.1:{silent[0].getsockname()[1]}: closed after" in line
        assert "(8 connections open, max_connections)" in line
        assert "connection refused" not in log
    assert_one_line_log(lst.log())  # type: ignore[attr-defined]


def test_max_associations_rejects_clearly_and_idle_ones_time_out(guarded: object) -> None:
    lst = guarded
    port = lst.port  # type: ignore[attr-defined]
    idle = [associate(port) for _ in range(4)]
    try:
        done = echoscu(port)
        assert done.returncode != 0
        assert "Local Limit Exceeded" in done.stdout + done.stderr
        assert "rejected: 4 associations already open (max_associations)" in lst.log()  # type: ignore[attr-defined]
        # An established association that stays silent is aborted after network_timeout_s.
        assert all(closed_by_peer(s, NETWORK_S + 5) for s in idle)
    finally:
        for s in idle:
            s.close()
    assert wait_for(lambda: echo_ok(port), timeout=10)
    assert_one_line_log(lst.log())  # type: ignore[attr-defined]


def test_oversized_pdu_lengths_are_refused_before_reading(guarded: object) -> None:
    lst = guarded
    port = lst.port  # type: ignore[attr-defined]
    pid = lst.proc.pid  # type: ignore[attr-defined]
    before = rss_kb(pid)
    # A 4 GiB A-ASSOCIATE-RQ, and a 4 GiB P-DATA-TF on an established association,
    # each followed by 32 MB of filler the listener must not keep.
    for sock, pdu_type in ((connect(port), 0x01), (associate(port), 0x04)):
        with sock:
            sock.sendall(struct.pack(">BBL", pdu_type, 0, 0xFFFFFFFF))
            filler = bytes(1 << 20)
            try:
                for _ in range(32):
                    sock.sendall(filler)
            except OSError:
                pass  # the listener closed the connection: what we want
            assert closed_by_peer(sock, 5)
        assert echo_ok(port)
    grown_mb = (rss_kb(pid) - before) / 1024
    assert grown_mb < 20, f"listener grew by {grown_mb:.0f} MB"
    log = lst.log()  # type: ignore[attr-defined]
    assert "A-ASSOCIATE-RQ PDU declares 4294967295 bytes, above the 1048576 we accept" in log
    assert "P-DATA-TF PDU declares 4294967295 bytes" in log and "(max_pdu_size)" in log
    assert_one_line_log(log)


def _malformed_cases() -> list[tuple[str, bool, bytes]]:
    """(what, associate first, bytes to send)."""
    rq = associate_rq()
    return [
        ("unknown PDU type", False, struct.pack(">BBL", 0x09, 0, 4) + bytes(4)),
        ("garbage A-ASSOCIATE-RQ", False, struct.pack(">BBL", 0x01, 0, 20) + b"\xff" * 20),
        ("A-ASSOCIATE-RQ with a lying item length", False, rq[:80] + b"\x10\x00\xff\xff" + rq[84:]),
        ("truncated A-ASSOCIATE-RQ then close", False, rq[:40]),
        ("P-DATA before association", False, p_data([(1, 0x03, b"\x00" * 8)])),
        ("A-RELEASE-RP with a bad length", False, struct.pack(">BBL", 0x06, 0, 2) + bytes(2)),
        ("garbage command set", True, p_data([(1, 0x03, b"\xde\xad\xbe\xef" * 8)])),
        ("PDV on an unknown context", True, p_data([(99, 0x03, b"\x00" * 8)])),
        ("PDV item longer than its PDU", True, struct.pack(">BBLLBB", 4, 0, 6, 200, 1, 3)),
        ("endless command set", True, p_data([(1, 0x01, bytes(16000))] * 5)),
        ("second A-ASSOCIATE-RQ", True, rq),
    ]


def test_malformed_pdus_are_one_line_each_and_echo_goes_on(guarded: object) -> None:
    lst = guarded
    port = lst.port  # type: ignore[attr-defined]

    def peer_lines() -> list[str]:
        return [line for line in lst.log().splitlines() if "peer 127.0.0.1:" in line]  # type: ignore[attr-defined]

    for what, after_association, data in _malformed_cases():
        before = len(peer_lines())
        sock = associate(port) if after_association else connect(port)
        with sock:
            with suppress(OSError):
                sock.sendall(data)
            if what.endswith("then close"):
                sock.shutdown(socket.SHUT_WR)
            assert closed_by_peer(sock, NETWORK_S + ARTIM_S + 2), what
        assert echo_ok(port), what
        assert wait_for(lambda n=before: len(peer_lines()) > n, timeout=5), f"{what}: no line"
        new = peer_lines()[before:]
        assert len(new) == 1, f"{what}: {len(new)} lines\n" + "\n".join(new)
    assert_one_line_log(lst.log())  # type: ignore[attr-defined]


def test_slow_drip_inside_an_association_is_aborted(guarded: object) -> None:
    lst = guarded
    port = lst.port  # type: ignore[attr-defined]
    sock = associate(port)
    with sock:
        pdu = p_data([(1, 0x03, bytes(64))])
        sock.sendall(pdu[:8])
        started = time.monotonic()
        for i in range(8, len(pdu)):  # one byte a second: never idle, never done
            try:
                sock.send(pdu[i : i + 1])
            except OSError:
                break
            if closed_by_peer(sock, 1.0):
                break
        took = time.monotonic() - started
    assert took < NETWORK_S + 3, f"a dripping PDU kept its association for {took:.0f} s"
    assert "PDU stalled" in lst.log()  # type: ignore[attr-defined]
    assert echo_ok(port)


# --- TLS ---------------------------------------------------------------------------------


def _tls_echo(port: int, cert: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["echoscu", "-to", "10", "+tla", "+cf", str(cert), "-aec", "VPLOG", "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_tls_silent_connections_do_not_block_new_associations(
    listener_factory: object, tmp_path: Path
) -> None:
    require_dcmtk()
    key, cert = make_certificate(tmp_path)
    lst = listener_factory(  # type: ignore[operator]
        VP_LOG_TLS_CERTIFICATE=str(cert),
        VP_LOG_TLS_PRIVATE_KEY=str(key),
        VP_LOG_ASSOCIATION_TIMEOUT_S=str(ARTIM_S),
        VP_LOG_DISK_RESERVE_MB="0",
    )
    with ExitStack() as stack:
        silent = [stack.enter_context(connect(lst.port)) for _ in range(15)]
        time.sleep(0.3)
        started = time.monotonic()
        done = _tls_echo(lst.port, cert)
        assert done.returncode == 0, done.stdout + done.stderr + lst.log()
        assert time.monotonic() - started < 5
        assert all(closed_by_peer(s, ARTIM_S + 3) for s in silent)
        # A client that starts the handshake and stalls is bounded the same way.
        stalled = stack.enter_context(connect(lst.port))
        hello = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
        with pytest.raises(ssl.SSLWantReadError):
            hello.do_handshake()
        assert _tls_echo(lst.port, cert).returncode == 0
        stalled.sendall(b"\x16\x03\x01")  # a record header, then nothing
        assert closed_by_peer(stalled, ARTIM_S + 3)
    log = lst.log()
    assert "no TLS handshake within 3 s (association_timeout_s)" in log
    assert_one_line_log(log)


def test_tls_connections_stuck_in_the_handshake_make_room_for_a_caller(
    listener_factory: object, tmp_path: Path
) -> None:
    require_dcmtk()
    key, cert = make_certificate(tmp_path)
    lst = listener_factory(  # type: ignore[operator]
        VP_LOG_TLS_CERTIFICATE=str(cert),
        VP_LOG_TLS_PRIVATE_KEY=str(key),
        VP_LOG_ASSOCIATION_TIMEOUT_S="60",
        VP_LOG_MAX_ASSOCIATIONS="2",
        VP_LOG_MAX_CONNECTIONS="4",
        VP_LOG_DISK_RESERVE_MB="0",
    )
    with ExitStack() as stack:
        stalled = []
        for _ in range(4):
            sock = stack.enter_context(connect(lst.port))
            sock.sendall(b"\x16\x03\x01")  # a TLS record header, then nothing
            stalled.append(sock)
            time.sleep(0.05)
        time.sleep(0.5)
        done = _tls_echo(lst.port, cert)
        assert done.returncode == 0, done.stdout + done.stderr + lst.log()
        assert closed_by_peer(stalled[0], 3), lst.log()
        # Read while the other three still stall: closing them below fails their handshakes,
        # which is logged (as it should be) as soon as the listener sees it.
        assert wait_for(lambda: EVICTED in lst.log(), timeout=5), lst.log()[-3000:]
        log = lst.log()
    assert log.count(EVICTED) == 1, log[-3000:]
    assert "TLS handshake failed" not in log
    assert_one_line_log(log)


def test_world_readable_tls_key_is_refused_in_one_line(
    listener_factory: object, tmp_path: Path
) -> None:
    key, cert = make_certificate(tmp_path)
    key.chmod(0o644)
    lst = listener_factory(  # type: ignore[operator]
        start=False, VP_LOG_TLS_CERTIFICATE=str(cert), VP_LOG_TLS_PRIVATE_KEY=str(key)
    )
    lst.start(wait=False)
    assert lst.proc.wait(timeout=60) == 2
    errors = [line for line in lst.log().splitlines() if "error" in line.lower()]
    assert errors == [
        f"error: TLS private key {key} is accessible to every user (mode 0644): "
        f"run 'chmod 600 {key}' (tls_private_key); refusing to start"
    ], errors
