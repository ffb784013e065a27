"""The access log: one line per request with method, path, status and milliseconds; never a header."""

from __future__ import annotations

import io
import json
import logging

import pytest
from werkzeug.test import Client

from mock_runtype.serving import logs
from mock_runtype.http.app import create_app


@pytest.fixture
def captured():
    """Configure logging into two buffers (access lines, other messages); restore afterwards."""
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level, logging.getLogger(name).propagate)
             for name in (logs.ACCESS, "mock_runtype")}
    out, err = io.StringIO(), io.StringIO()

    def configure(log_format: str = "text", quiet: bool = False):
        logs.configure(log_format, quiet, out=out, err=err)
        return out, err

    yield configure
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


def test_one_text_line_per_request(captured):
    out, _ = captured("text")
    client = Client(logs.AccessLog(create_app()))
    client.get("/health", buffered=True)
    client.post("/v1/records?dryRun=1", json={"type": "t", "name": "n"},
                headers={"Authorization": "Bearer rt_secret_1"}, buffered=True)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    stamp, method, path, status, ms = lines[1].split(" ")
    assert stamp.endswith("Z") and "T" in stamp
    assert (method, path, status) == ("POST", "/v1/records?dryRun=1", "201")
    assert ms.endswith("ms") and float(ms[:-2]) >= 0
    assert "rt_secret_1" not in out.getvalue()


def test_json_lines_for_machines(captured):
    out, _ = captured("json")
    client = Client(logs.AccessLog(create_app()))
    client.get("/v1/records/nope", headers={"Authorization": "Bearer rt_secret_2"}, buffered=True)
    entry = json.loads(out.getvalue())
    assert entry["level"] == "info"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/v1/records/nope", 404)
    assert isinstance(entry["ms"], float)
    assert "rt_secret_2" not in out.getvalue()


def test_a_path_cannot_forge_a_second_line(captured):
    out, _ = captured("text")
    Client(logs.AccessLog(create_app())).get("/x%0A2026-01-01T00:00:00.000Z%20GET%20/forged%20200%201ms", buffered=True)
    assert len(out.getvalue().splitlines()) == 1
    assert "/x\\n2026" in out.getvalue()


def test_the_line_is_written_when_the_answer_is_closed():
    written = []

    def streaming(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"part"
        written.append("body done")

    logger = logging.getLogger("test.access")
    logger.info = lambda message, extra: written.append(extra["access"]["status"])  # type: ignore[method-assign]
    body = logs.AccessLog(streaming, logger)({"REQUEST_METHOD": "GET", "PATH_INFO": "/s"}, lambda *a: None)
    assert list(body) == [b"part"] and written == ["body done"]
    body.close()
    assert written == ["body done", 200]


def test_quiet_keeps_warnings_only(captured):
    out, err = captured("text", quiet=True)
    Client(logs.AccessLog(create_app())).get("/health", buffered=True)
    logging.getLogger("mock_runtype").info("listening")
    logging.getLogger("mock_runtype").warning("something to know")
    assert out.getvalue() == ""
    assert err.getvalue().strip().endswith("WARNING something to know")


def test_a_dropped_connection_is_logged_without_a_status(captured):
    out, _ = captured("json")

    def dropping(environ, start_response):
        raise ConnectionResetError("dropped on purpose")

    with pytest.raises(ConnectionResetError):
        logs.AccessLog(dropping)({"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/records/x/costs"}, lambda *a: None)
    assert json.loads(out.getvalue())["status"] is None
