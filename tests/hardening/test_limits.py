"""Limits that protect the host: each is configurable (SandboxSettings, a flag, an environment variable)
and answers a documented 4xx when reached; what it protects stays bounded."""

from __future__ import annotations

import uuid

import pytest
import requests

from mock_runtype.config import ConfigError, resolve
from mock_runtype.sandbox.core import SandboxSettings
from tests.conftest import RunningServer


@pytest.fixture(scope="module")
def capped():
    running = RunningServer(SandboxSettings(max_records_per_tenant=3, max_tenants=2, max_upload_bytes=2000,
                                     max_body_bytes=500, journal_limit=5))
    yield running
    running.close()


def tenant(server: RunningServer) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer rt_test_{uuid.uuid4().hex}"
    session.base_url = server.url  # type: ignore[attr-defined]
    return session


def create(session: requests.Session, name: str) -> requests.Response:
    return session.post(session.base_url + "/v1/records", json={"type": "lead", "name": name}, timeout=10)


def test_records_per_tenant_cap_is_403_and_frees_up_on_delete(capped):
    capped.sandbox.reset()
    a = tenant(capped)
    ids = [create(a, f"r{i}").json()["id"] for i in range(3)]
    refused = create(a, "r3")
    assert refused.status_code == 403 and "Record limit reached" in refused.json()["error"]
    upload = a.post(a.base_url + "/v1/records/upload-csv", data={"typeValue": "lead"},
                    files={"file": ("r.csv", b"name\r\nu1\r\n")}, timeout=10).json()
    assert upload["created"] == 0 and "Record limit reached" in upload["errorDetails"][0], "a row, not half an upload"
    assert a.delete(f"{a.base_url}/v1/records/{ids[0]}", timeout=10).status_code == 200
    assert create(a, "r3").status_code == 201


def test_tenant_cap_is_403_for_a_new_tenants_first_write_only(capped):
    capped.sandbox.reset()
    first, second, third = tenant(capped), tenant(capped), tenant(capped)
    assert create(first, "x").status_code == 201 and create(second, "x").status_code == 201
    refused = create(third, "x")
    assert refused.status_code == 403 and "Tenant limit reached" in refused.json()["error"]
    assert third.get(third.base_url + "/v1/records", timeout=10).json()["data"] == [], "reading still works"
    assert create(first, "y").status_code == 201, "tenants already holding records keep writing"
    for record in first.get(first.base_url + "/v1/records", timeout=10).json()["data"]:
        first.delete(f"{first.base_url}/v1/records/{record['id']}", timeout=10)
    assert create(third, "x").status_code == 201, "a tenant with no records no longer counts"


def test_body_and_upload_caps_are_413(capped):
    session = tenant(capped)
    body = session.post(session.base_url + "/v1/records", json={"type": "lead", "name": "n" * 600}, timeout=10)
    assert body.status_code == 413 and "500 bytes" in body.json()["error"]
    upload = session.post(session.base_url + "/v1/records/upload-csv", data={"typeValue": "lead"},
                          files={"file": ("r.csv", b"name\r\n" + b"n" * 3000)}, timeout=10)
    assert upload.status_code == 413 and upload.headers["Content-Type"] == "application/json"


def test_journal_keeps_the_newest_entries_up_to_its_limit(capped):
    session = tenant(capped)
    for index in range(12):
        session.get(session.base_url + "/v1/records", params={"limit": index + 1}, timeout=10)
    key = session.headers["Authorization"].split(" ", 1)[1]
    entries = capped.sandbox.journal.entries(key)
    assert [entry["query"]["limit"] for entry in entries] == ["8", "9", "10", "11", "12"]


def test_scenario_counters_stay_bounded_under_a_stream_of_new_tenants(monkeypatch):
    from mock_runtype.sandbox import scenarios

    monkeypatch.setattr(scenarios, "MAX_COUNTED_TENANTS", 50)
    server = RunningServer()
    try:
        scenario = server.sandbox.scenarios.add({"name": "slow", "when": {"path": "/v1/records"}, "delayMs": 0})
        for _ in range(120):
            tenant(server).get(server.url + "/v1/records", timeout=10)
        assert len(scenario._counts) == 50
    finally:
        server.close()


def test_every_limit_has_a_flag_and_an_environment_variable():
    settings = resolve({"--max-records-per-tenant": "50", "--request-timeout": "3"}, {"MOCK_RUNTYPE_MAX_TENANTS": "7"})
    assert (settings.sandbox.max_records_per_tenant, settings.sandbox.max_tenants, settings.server.request_timeout_s) == (50, 7, 3)
    assert settings.sandbox.max_upload_bytes == SandboxSettings.max_upload_bytes
    for flag in ("--max-tenants", "--journal-limit", "--idle-timeout", "--max-connections"):
        with pytest.raises(ConfigError, match=flag):
            resolve({flag: "0"}, {})
