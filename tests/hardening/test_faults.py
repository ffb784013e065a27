"""Faults at the connection level: a client that vanishes mid-body, one that trickles a byte a
second, and a thousand idle keep-alive connections. The server drops what it must and keeps
answering everyone else meanwhile."""

from __future__ import annotations

import resource
import socket
import time
import uuid

import pytest
import requests

from mock_runtype.serving.adapter import ServerSettings
from tests.conftest import RunningServer

IDLE_CONNECTIONS = 1000
REQUEST_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def guarded():
    running = RunningServer(server=ServerSettings(request_timeout_s=REQUEST_TIMEOUT_S, idle_timeout_s=60))
    yield running
    running.close()


def connect(server: RunningServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def answers(server: RunningServer) -> bool:
    key = f"rt_test_{uuid.uuid4().hex}"
    response = requests.post(server.url + "/v1/records", json={"type": "t", "name": "n"},
                             headers={"Authorization": f"Bearer {key}"}, timeout=10)
    return response.status_code == 201


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_client_that_disconnects_mid_body_changes_nothing(guarded):
    key = f"rt_test_{uuid.uuid4().hex}"
    sock = connect(guarded)
    sock.sendall(b"POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: 100000\r\n\r\n"
                 b'{"type": "t", "name": "half", "metadata": {"pad": "' + b"p" * 5000)
    sock.close()
    assert answers(guarded)
    listed = requests.get(guarded.url + "/v1/records", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert listed.json()["data"] == []


def test_a_body_declared_far_over_the_limits_is_refused_before_it_is_read(guarded):
    sock = connect(guarded)
    sock.sendall(b"POST /v1/records/upload-csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer rt_test_big\r\n"
                 b"Content-Type: text/csv\r\nContent-Length: 1000000000\r\n\r\n")
    answer = sock.recv(4096)  # no byte of the gigabyte was sent: the answer comes from the headers alone
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413")
    assert answers(guarded)


def test_a_client_sending_a_byte_a_second_is_dropped_while_others_are_served(guarded):
    slow = connect(guarded)
    request = b"GET /v1/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer rt_test_slow\r\nX-Pad: " + b"p" * 100
    started = time.monotonic()
    served_meanwhile = 0
    dropped_after = None
    for byte in request:
        try:
            slow.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            dropped_after = time.monotonic() - started
            break
        served_meanwhile += answers(guarded)
        slow.settimeout(1.0)
        try:
            if slow.recv(1) == b"":
                dropped_after = time.monotonic() - started
                break
        except socket.timeout:
            pass  # still open: a byte a second
        except ConnectionResetError:
            dropped_after = time.monotonic() - started
            break
        if time.monotonic() - started > REQUEST_TIMEOUT_S + 8:
            break
    slow.close()
    assert dropped_after is not None, "the slow client was never dropped"
    assert REQUEST_TIMEOUT_S <= dropped_after <= REQUEST_TIMEOUT_S + 4
    assert served_meanwhile >= REQUEST_TIMEOUT_S, "others were answered while the slow client trickled"


def usable_connection_count(wanted: int) -> int:
    """Each connection costs two descriptors here (client and server share the process): raise the
    soft limit toward the hard one; if the hard limit is too low, use fewer connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * wanted + 200
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return min(wanted, (soft - 200) // 2)


def test_a_thousand_idle_keep_alive_connections_do_not_stop_the_server(guarded):
    count = usable_connection_count(IDLE_CONNECTIONS)
    assert count >= 400, "the descriptor limit leaves too few connections to mean something"
    idle = []
    try:
        for _ in range(count):
            sock = connect(guarded)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            idle.append(sock)
        for sock in idle:
            assert sock.recv(4096).startswith(b"HTTP/1.1 200"), "each connection was served, and stays open"
        assert answers(guarded), "a new client is answered while they idle"
        reused = idle[0]
        reused.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reused.recv(4096).startswith(b"HTTP/1.1 200"), "an idle connection is still usable"
    finally:
        for sock in idle:
            sock.close()
    assert answers(guarded)


def test_idle_connections_are_closed_after_the_idle_timeout():
    server = RunningServer(server=ServerSettings(idle_timeout_s=1))
    try:
        idle = [connect(server) for _ in range(20)]
        time.sleep(3.5)  # the timeout, plus the engine's once-a-second sweep, plus slack
        assert all(closed_by_server(sock) for sock in idle)
        for sock in idle:
            sock.close()
        assert answers(server)
    finally:
        server.close()
