"""The test helpers: a local server, the control API client, violations as a test reads them."""

from __future__ import annotations

import pytest

from mock_runtype.testing import AdminError, Control, LocalServer, Violation, new_api_key


def test_new_keys_are_unique_open_mode_tenants():
    keys = {new_api_key() for _ in range(1000)}
    assert len(keys) == 1000 and all(k.startswith("rt_test_") and len(k) == 40 for k in keys)


def test_a_local_server_answers_health_and_stops():
    with LocalServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert Control(server.url).check()["status"] == "ok"
    with pytest.raises(AdminError, match="no sandbox answers at"):
        Control(server.url, timeout=2).check()


def test_a_refused_control_call_raises_with_status_and_message(server):
    with pytest.raises(AdminError) as raised:
        Control(server.url).call("GET", "/no-such-thing")
    assert raised.value.status == 404
    assert str(raised.value) == "GET /__admin/no-such-thing answered 404: Not found: GET /__admin/no-such-thing"


def test_a_violation_reads_as_one_request_with_the_fields_it_names():
    entry = {
        "method": "POST", "path": "/v1/records", "query": {"dryRun": ["1"]}, "status": 400,
        "violation": "validation",
        "response": {"error": "Validation failed: name", "details": [{"path": "name", "message": "'name' is required"}]},
    }
    assert str(Violation.from_entry(entry)) == (
        "POST /v1/records?dryRun=1 -> 400 (validation): Validation failed: name\n"
        "      name: 'name' is required"
    )
    route = {"method": "GET", "path": "/v1/recrods", "query": "", "status": 404, "violation": "unknown_route",
             "response": {"error": "Not found: GET /v1/recrods"}}
    assert str(Violation.from_entry(route)) == "GET /v1/recrods -> 404 (unknown route): Not found: GET /v1/recrods"
