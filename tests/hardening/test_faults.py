"""Faults at the connection level: a client that vanishes mid-body, one that trickles a byte a
second, and a thousand idle keep-alive connections. The server drops what it must and keeps
answering everyone else meanwhile."""

from __future__ import annotations

import resource
import select
import socket
import time
import uuid

import pytest
import requests

from mock_runtype.serving.adapter import ServerSettings
from tests.conftest import RunningServer
from tests.waiting import DEADLINE_S

IDLE_CONNECTIONS = 1000
IDLE_TIMEOUT_S = 1
REQUEST_TIMEOUT_S = 2
DROP_DEADLINE_S = REQUEST_TIMEOUT_S + 28  # generous: see the byte-a-second test


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


def still_open(sock: socket.socket, wait_s: float) -> bool:
    """False once the server closed or reset `sock`; waits up to `wait_s` seconds for that."""
    readable, _, _ = select.select([sock], [], [], wait_s)
    if not readable:
        return True
    try:
        return sock.recv(1) != b""  # a byte of an answer would mean the connection still lives
    except ConnectionResetError:
        return False


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
    """The slow client sends one byte a second; between its bytes, other clients keep asking.

    No upper bound tighter than DROP_DEADLINE_S: the drop comes at the engine's first once-a-second
    sweep past the timeout, and a busy machine may run that sweep (and this loop) late. Any drop
    within the deadline is still the request timeout: the whole request would take over 100 s to
    send at this pace, and the connection is never idle (the idle timeout here is 60 s anyway)."""
    slow = connect(guarded)
    request = b"GET /v1/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer rt_test_slow\r\nX-Pad: " + b"p" * 100
    pending = iter(request)
    started = time.monotonic()  # the engine starts timing the request at its first byte, sent below
    next_byte_at = started
    served_while_open = 0
    dropped_after = None
    while dropped_after is None and time.monotonic() - started < DROP_DEADLINE_S:
        if time.monotonic() >= next_byte_at:
            byte = next(pending, None)
            assert byte is not None, "the whole request went out: the slow client was never dropped"
            try:
                slow.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                dropped_after = time.monotonic() - started
                break
            next_byte_at = time.monotonic() + 1.0  # never faster, even after a late turn
        answered = answers(guarded)
        # Counted only if the slow client is still connected after the answer: a server that
        # waited on the slow client could answer others only once it had dropped it.
        if still_open(slow, 0.1):
            served_while_open += answered
        else:
            dropped_after = time.monotonic() - started
    slow.close()
    assert dropped_after is not None, "the slow client was never dropped"
    assert dropped_after >= REQUEST_TIMEOUT_S, "dropped before its request timed out"
    # Ten answers a second are asked for while the slow client lasts (at least REQUEST_TIMEOUT_S
    # seconds): the bound leaves a busy machine a tenfold margin, and is still more than one.
    assert served_while_open >= REQUEST_TIMEOUT_S, "others were answered while the slow client trickled"


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
    """Each idle connection is waited on until the server closes it (no fixed sleep for the
    timeout plus the once-a-second sweep): a busy machine may run the sweep late, so only the
    generous deadline of tests.waiting bounds the wait; a closing before the timeout fails."""
    server = RunningServer(server=ServerSettings(idle_timeout_s=IDLE_TIMEOUT_S))
    try:
        started = time.monotonic()  # before the first connect: no connection is older than this
        idle = [connect(server) for _ in range(20)]
        deadline = started + DEADLINE_S
        closed = []
        for sock in idle:
            closed.append(not still_open(sock, max(0.0, deadline - time.monotonic())))
            if len(closed) == 1:
                first_closed_after = time.monotonic() - started
        assert all(closed), f"{closed.count(False)} of {len(idle)} idle connections still open after {DEADLINE_S:g} s"
        assert first_closed_after >= IDLE_TIMEOUT_S, "closed before the idle timeout"
        for sock in idle:
            sock.close()
        assert answers(server)
    finally:
        server.close()
