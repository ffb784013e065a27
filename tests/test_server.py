"""`start_engine`: binds where it is told, or says why it cannot (the engine itself: test_engine.py)."""

from __future__ import annotations

import socket

import pytest
import requests

from mock_runtype.server import start_engine


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]


def test_serves_and_reports_the_port_it_got():
    engine = start_engine(hello, "127.0.0.1", 0, threads=2)
    engine.start()
    try:
        assert engine.port > 0
        assert requests.get(f"http://127.0.0.1:{engine.port}/", timeout=5).text == "done"
    finally:
        engine.close()


def test_a_port_in_use_raises_oserror():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            start_engine(hello, "127.0.0.1", taken.getsockname()[1], threads=1)


def test_an_unknown_host_raises_oserror():
    with pytest.raises(OSError):
        start_engine(hello, "no-such-host.invalid", 0, threads=1)


def test_close_before_start_releases_the_port():
    engine = start_engine(hello, "127.0.0.1", 0, threads=1)
    engine.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", engine.port), timeout=1).close()
