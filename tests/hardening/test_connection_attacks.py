"""Clients that hold the engine's resources without ever being answered (issue 13): connections that
send only empty lines, bodies declared far over their endpoint's limit, pipelining without reading
the answers, and fixture documents slow to parse. Each of these held up, or bloated, the server for
every other client before.

Timing: where a test shows a client was not kept waiting, the bound is several times what a working
server needs on a loaded two-core machine, and far below what the old engine took (forever)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests
from werkzeug.test import EnvironBuilder

from mock_runtype.serving.adapter import ServerSettings
from mock_runtype.serving.engine import FEED_SLICE, MAX_PIPELINED
from mock_runtype.testing import new_api_key
from tests.conftest import RunningServer
from tests.waiting import wait_until

MiB = 1024 * 1024


def connect(server: RunningServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=10)
    return sock


def answer_head(sock: socket.socket) -> bytes:
    """What the server wrote, up to the end of its body or its close (10 s at most)."""
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def trickling(holders: list[socket.socket], stop: threading.Event) -> list[threading.Thread]:
    """Threads each sending `\\r\\n` on one of `holders` every 0.2 s, until `stop` or its close."""

    def trickle(sock: socket.socket) -> None:
        while not stop.is_set():
            try:
                sock.sendall(b"\r\n")
            except OSError:
                return  # closed by the server
            stop.wait(0.2)

    threads = [threading.Thread(target=trickle, args=(sock,), daemon=True) for sock in holders]
    for thread in threads:
        thread.start()
    return threads


def test_connections_sending_only_empty_lines_are_closed_and_let_new_clients_in():
    """20 connections (the cap here) each send `\\r\\n` every 0.2 s: the old engine never began a
    request for them, so they were never timed out and a new client waited in the backlog forever."""
    settings = ServerSettings(max_connections=20, request_timeout_s=2, idle_timeout_s=60)
    stop = threading.Event()
    with RunningServer(server=settings) as server:
        holders = [connect(server) for _ in range(20)]
        engine = server._server._engine
        wait_until(lambda: len(engine.connections) == 20)
        threads = trickling(holders, stop)
        try:
            # Dropped by their request timeout (2 s) at the next sweep (1 s), no newcomer taking
            # their places: 15 s is several times that, on a busy machine.
            wait_until(lambda: not any(thread.is_alive() for thread in threads), timeout=15,
                       message="a holder was never timed out")
            assert requests.get(f"{server.url}/health", timeout=15).status_code == 200
        finally:
            stop.set()
            for sock in holders:
                sock.close()


def test_a_new_client_takes_the_place_of_a_connection_sending_only_empty_lines_at_once():
    """At the cap, filled with holders, a newcomer no longer waits for their request timeout (30 s
    here): it takes the place of the longest-open holder. A request being answered (held by a
    scenario's delay, here) keeps its place however many newcomers come: once the holders are gone,
    each takes the place of the one before it, idle on its keep-alive connection."""
    settings = ServerSettings(max_connections=20, request_timeout_s=30, idle_timeout_s=60)
    stop = threading.Event()
    with RunningServer(server=settings) as server:
        key = new_api_key()
        assert server.admin("POST", "/scenarios", params={"tenant": key}, json={
            "name": "slow", "when": {"method": "GET", "path": "/v1/records"}, "delayMs": 8_000}).status_code == 201
        engine = server._server._engine
        delayed: dict[str, requests.Response] = {}
        caller = threading.Thread(target=lambda: delayed.update(answer=requests.get(
            f"{server.url}/v1/records", headers={"Authorization": f"Bearer {key}"}, timeout=60)))
        caller.start()
        wait_until(lambda: any(connection.busy for connection in list(engine.connections)))
        holders = [connect(server) for _ in range(19)]
        threads = trickling(holders, stop)
        newcomers: list[requests.Session] = []
        try:
            wait_until(lambda: len(engine.connections) == 20
                       and sum(c.receiving_since is not None for c in list(engine.connections)) == 19)
            # Making room takes a turn of the loop: 5 s is far more than that on a busy machine, and
            # far less than the 30 s after which the holders' timeout let a newcomer in before.
            # (The delay, 8 s, is longer than these newcomers take but for a very busy machine:
            # then the last of them find it answered, idle, and the test shows less, not wrongly.)
            for _ in range(25):
                newcomers.append(requests.Session())
                assert newcomers[-1].get(f"{server.url}/health", timeout=5).status_code == 200
            wait_until(lambda: not any(thread.is_alive() for thread in threads), message="a holder was left open")
            caller.join(timeout=60)
            assert "answer" in delayed and delayed["answer"].status_code == 200, "the delayed request was evicted"
        finally:
            stop.set()
            for sock in holders:
                sock.close()
            for session in newcomers:
                session.close()
            caller.join(timeout=60)


def test_a_body_declared_over_the_json_limit_is_refused_before_it_is_sent():
    """The old engine waited for 19 MiB declared to a 1 MiB endpoint (its cap was twice the
    largest limit, the upload's), buffering them all before the app's 413."""
    with RunningServer() as server, connect(server) as sock:
        sock.sendall(b"POST /v1/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n{" % (new_api_key().encode(), 19 * MiB))
        answer = answer_head(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Content-Type: application/json" in answer and b"Connection: close" in answer
    assert answer.endswith(b'{"error": "Request body too large: the limit is 1048576 bytes"}')


def test_an_upload_has_its_own_limit_before_it_is_sent():
    with RunningServer() as server, connect(server) as sock:
        sock.sendall(b"POST /v1/records/upload-csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n--b"
                     % (new_api_key().encode(), 11 * MiB))
        answer = answer_head(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(b"the limit is 10485760 bytes\"}")


def test_a_chunked_body_growing_past_the_json_limit_is_refused_while_it_is_still_sent():
    with RunningServer() as server, connect(server) as sock:
        sock.sendall(b"POST /v1/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" % new_api_key().encode())
        piece = b"x" * 65536
        for _ in range(17):  # 1.06 MiB, and no last chunk: the old engine waited for it
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        answer = answer_head(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_client_pipelining_without_reading_has_only_a_few_requests_parsed_at_a_time():
    """Thousands of pipelined requests whose answers are never read: the old engine parsed every
    request of what it had read (a read is up to 256 KiB: thousands of requests) into memory."""
    request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"  # a large answer fills the buffers soon
    with RunningServer() as server:
        engine = server._server._engine
        sock = connect(server)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sender = threading.Thread(target=lambda: _send_quietly(sock, request * 50_000), daemon=True)
        sender.start()
        try:
            wait_until(lambda: any(len(c.pending) >= MAX_PIPELINED for c in list(engine.connections)))
            most = 0
            deadline = time.monotonic() + 1.0  # the client keeps sending meanwhile
            while time.monotonic() < deadline:
                most = max([most, *(len(c.pending) for c in list(engine.connections))])
                time.sleep(0.01)
            assert most <= MAX_PIPELINED + FEED_SLICE // len(request) + 1
        finally:
            sock.close()


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass  # the test closed the socket


@pytest.mark.parametrize("path", ["/__admin/fixtures", "/__admin/scenarios"])
def test_a_yaml_document_is_parsed_off_the_loop_however_short(path):
    """YAML's aliases make a few bytes much work (a 268-byte document held the loop 22 s): the old
    engine read a short fixture or scenario inline, holding every other client meanwhile."""
    document = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nrecords: []\n"
    with RunningServer() as server:
        environ = EnvironBuilder(path=path, method="POST", data=document, content_type="application/yaml").get_environ()
        assert server._server._engine.schedule(environ).off_loop
        assert server.admin("POST", path[len("/__admin"):], data=document,
                            headers={"Content-Type": "application/yaml"}).status_code == 400


def test_an_empty_fixture_post_stays_on_the_loop():
    with RunningServer() as server:
        environ = EnvironBuilder(path="/__admin/fixtures", method="POST").get_environ()
        assert not server._server._engine.schedule(environ).off_loop
