"""The suite-wide response check over HTTP: a broken response becomes a 500 naming the field."""

from __future__ import annotations

import logging

import pytest
import requests

from mock_runtype.http import record_routes as records
from mock_runtype.testing import LocalServer
from tests.conftest import url


@pytest.fixture
def break_records(monkeypatch):
    """Make every record the server shapes lose its name and carry a string schemaValid."""
    shape = records.record_to_json

    def record_without_its_name(record, **options):
        shaped = shape(record, **options)
        del shaped["name"]
        shaped["schemaValid"] = "yes"
        return shaped

    monkeypatch.setattr(records, "record_to_json", record_without_its_name)


def test_the_test_server_checks_every_response(server):
    assert server.sandbox.settings.check_responses


def test_a_broken_response_is_caught_logged_and_answered_500(http, caplog, request):
    created = http.post(url(http, "/v1/records"), json={"type": "t", "name": "checked"}).json()
    request.getfixturevalue("break_records")
    with caplog.at_level(logging.ERROR, logger="mock_runtype"):
        response = http.get(url(http, f"/v1/records/{created['id']}"))
    assert response.status_code == 500
    body = response.json()
    assert body["error"].startswith(f"Response check failed: GET /v1/records/{created['id']} answered 200")
    assert "responses/record at name, schemaValid" in body["error"]
    assert {d["path"] for d in body["details"]} == {"name", "schemaValid"}
    assert any("Response check failed" in message for message in caplog.messages)


def test_without_the_flag_a_broken_response_goes_out_as_it_is(break_records, api_key):
    with LocalServer() as unchecked:
        response = requests.post(f"{unchecked.url}/v1/records", json={"type": "t", "name": "n"},
                                 headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 201 and "name" not in response.json()
