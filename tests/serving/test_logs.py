"""The access log: one line per request with method, path, status and milliseconds; never a header;
an error's message and tenant fingerprint; no health probes unless asked."""

from __future__ import annotations

import io
import json
import logging

import pytest
from werkzeug.test import Client

from mock_runtype.model.tenancy import fingerprint
from mock_runtype.serving import logs
from tests.waiting import wait_until
from mock_runtype.http.app import create_app


class Written(io.StringIO):
    """A stream whose value includes the access lines still waiting for the writer thread."""

    def getvalue(self) -> str:
        logs.flush()
        return super().getvalue()


@pytest.fixture
def captured():
    """Configure logging into two buffers (access lines, other messages); restore afterwards."""
    logger = logging.getLogger("mock_runtype")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    out, err = Written(), io.StringIO()

    def configure(log_format: str = "text", quiet: bool = False, **options):
        logs.configure(log_format, quiet, out=out, err=err, **options)
        return out, err

    yield configure
    logs.configure(quiet=True)  # as before any configure: access lines go nowhere
    logger.handlers[:], logger.level, logger.propagate = saved


def test_one_text_line_per_request(captured):
    out, _ = captured("text")
    client = Client(logs.AccessLog(create_app()))
    client.get("/openapi.json", buffered=True)
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

    body = logs.AccessLog(streaming, written.append)({"REQUEST_METHOD": "GET", "PATH_INFO": "/s"}, lambda *a: None)
    assert list(body) == [b"part"] and written == ["body done"]
    body.close()
    assert written[1].split(" ")[1:4] == ["GET", "/s", "200"]


def test_quiet_keeps_warnings_only(captured):
    out, err = captured("text", quiet=True)
    Client(logs.AccessLog(create_app())).get("/openapi.json", buffered=True)
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


def test_an_error_line_names_the_message_and_the_tenant_by_fingerprint(captured):
    out, _ = captured("text")
    client = Client(logs.AccessLog(create_app()))
    client.get("/v1/records/nope", headers={"Authorization": "Bearer rt_secret_3"}, buffered=True)
    client.post("/v1/records", json={"type": "t"}, headers={"Authorization": "Bearer rt_secret_3"}, buffered=True)
    client.get("/v1/records", buffered=True)  # no key: no tenant to name
    missing, invalid, anonymous = out.getvalue().splitlines()
    assert missing.split(" ")[1:4] == ["GET", "/v1/records/nope", "404"]
    assert f" tenant=fp:{fingerprint('rt_secret_3')} error=\"" in missing and "not found" in missing.lower()
    assert invalid.split(" ")[3] == "400" and "name" in invalid.split(" error=", 1)[1]
    assert "tenant=" not in anonymous and " error=\"" in anonymous
    assert "rt_secret_3" not in out.getvalue()


def test_json_error_lines_carry_the_same_fields(captured):
    out, _ = captured("json")
    Client(logs.AccessLog(create_app())).get("/v1/records/nope", headers={"Authorization": "Bearer rt_k"}, buffered=True)
    entry = json.loads(out.getvalue())
    assert entry["tenant"] == fingerprint("rt_k") and "not found" in entry["error"].lower()


def test_health_probes_are_left_out_unless_asked(captured):
    out, _ = captured("text")
    client = Client(logs.AccessLog(create_app()))
    client.get("/health", buffered=True)
    client.head("/health", buffered=True)
    assert out.getvalue() == ""
    captured("text", log_health=True)
    client.get("/health", buffered=True)
    assert out.getvalue().split(" ")[1:4] == ["GET", "/health", "200"]


def test_lines_are_written_off_the_request_by_the_writer_thread():
    stream = io.StringIO()
    writer = logs.LineWriter(stream, interval_s=0.01)
    writer.write("one")
    writer.write("two")
    assert stream.getvalue() == ""  # the request only queued them
    wait_until(lambda: stream.getvalue() == "one\ntwo\n", timeout=10)
    writer.close()


def test_a_stdout_nobody_reads_drops_lines_instead_of_growing(monkeypatch):
    monkeypatch.setattr(logs, "MAX_PENDING_LINES", 2)
    stream = io.StringIO()
    writer = logs.LineWriter(stream, interval_s=60)
    for n in range(5):
        writer.write(f"line {n}")
    writer.close()
    assert stream.getvalue().splitlines()[:2] == ["line 0", "line 1"]
    assert stream.getvalue().splitlines()[2].endswith("WARNING 3 access lines dropped: stdout was not read")


def test_the_time_prefix_is_formatted_once_a_second():
    assert logs._timestamp(1764637200.5) == "2025-12-02T01:00:00.500Z"
    assert logs._timestamp(1764637200.9875) == "2025-12-02T01:00:00.987Z"
    assert logs._timestamp(1764637201.0) == "2025-12-02T01:00:01.000Z"
