"""The engine behind `serve`: binds, serves from threads, and closes without waiting long."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from mock_runtype.server import start_engine


def slow_app(environ, start_response):
    time.sleep(float(environ["QUERY_STRING"] or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]


def get_cut_off(url: str) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=10)


def test_serves_and_reports_the_port_it_got():
    engine = start_engine(slow_app, "127.0.0.1", 0, threads=2)
    engine.start()
    try:
        assert engine.port > 0
        assert requests.get(f"http://127.0.0.1:{engine.port}/", timeout=5).text == "done"
    finally:
        engine.close()


def test_close_waits_for_a_slow_request_no_longer_than_the_grace():
    engine = start_engine(slow_app, "127.0.0.1", 0, threads=2)
    engine.start()
    threading.Thread(target=get_cut_off, args=(f"http://127.0.0.1:{engine.port}/?5",), daemon=True).start()
    time.sleep(0.2)  # the request is being answered
    started = time.monotonic()
    engine.close(grace=0.3)
    assert time.monotonic() - started < 1.0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", engine.port), timeout=1).close()


def test_a_port_in_use_raises_oserror():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            start_engine(slow_app, "127.0.0.1", taken.getsockname()[1], threads=1)
