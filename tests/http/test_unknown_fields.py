"""Unknown body fields and query parameters: ignored and reported by default, refused under
strictContract (issue 15, item 5)."""

from __future__ import annotations

import requests

from mock_runtype.sandbox.core import SandboxSettings
from tests.conftest import RunningServer, url

IGNORED = "X-Mock-Runtype-Ignored"


def journal(server: RunningServer, api_key: str) -> list[dict]:
    return requests.get(server.url + "/__admin/requests", params={"tenant": api_key}).json()["requests"]


def test_unknown_body_fields_and_parameters_are_ignored_and_named(http, server, api_key):
    created = http.post(url(http, "/v1/records") + "?utm_source=mail",
                        json={"type": "t", "name": "n", "id": "echoed", "colour": "red"})
    assert created.status_code == 201
    assert created.headers[IGNORED] == "query.utm_source, body.id, body.colour"  # a create reads no query
    record = created.json()
    assert "colour" not in record and record["id"] != "echoed"
    updated = http.put(url(http, f"/v1/records/{record['id']}"), json={**record, "name": "m"})
    assert updated.status_code == 200 and updated.json()["name"] == "m"
    assert set(updated.headers[IGNORED].split(", ")) == {
        f"body.{key}" for key in record if key not in ("type", "name", "metadata", "messages", "ownerId")}
    listed = http.get(url(http, "/v1/records"), params={"type": "t", "utm_source": "x", "fbclid": "y"})
    assert listed.status_code == 200 and [r["name"] for r in listed.json()["data"]] == ["m"]
    assert listed.headers[IGNORED] == "query.utm_source, query.fbclid"
    assert IGNORED not in http.get(url(http, "/v1/records")).headers
    entries = journal(server, api_key)
    assert [e["contractWarning"] for e in entries] == [
        "ignored unknown fields: query.utm_source, body.id, body.colour", entries[1]["contractWarning"],
        "ignored unknown fields: query.utm_source, query.fbclid", None]
    assert all(e["violation"] is None for e in entries)


def test_every_endpoint_that_reads_a_body_or_query_ignores_unknown_ones(http):
    record = http.post(url(http, "/v1/records"), json={"type": "t", "name": "n"}).json()
    calls = [
        ("POST", "/v1/records/bulk-delete", {"ids": ["nope"], "x": 1}, {}),
        ("POST", "/v1/records/bulk-edit", {"applyToAll": True, "updates": {"a": 1}, "x": 1}, {}),
        ("POST", "/v1/records/preview-filter", {"type": "t", "x": 1}, {}),
        ("GET", "/v1/records/export", None, {"x": "1"}),
        ("GET", "/v1/records/field-values", None, {"type": "t", "field": "a", "x": "1"}),
        ("GET", "/v1/records/schema", None, {"type": "t", "x": "1"}),
        ("GET", f"/v1/records/{record['id']}/results", None, {"x": "1"}),
        ("GET", f"/v1/records/{record['id']}/step-results", None, {"x": "1"}),
    ]
    for method, path, body, params in calls:
        answer = http.request(method, url(http, path), json=body, params=params)
        assert answer.status_code in (200, 204), (path, answer.text)
        assert answer.headers[IGNORED] == ("body.x" if body else "query.x"), path
    upload = http.post(url(http, "/v1/records/upload-csv"), data={"typeValue": "c", "x": "1"},
                       files={"file": ("r.csv", b"name\nA\n")})
    assert upload.status_code == 200 and upload.headers[IGNORED] == "body.x"


def test_a_refused_request_names_the_unknown_fields_too(http):
    typo = http.post(url(http, "/v1/records"), json={"type": "t", "nmae": "n"})
    assert typo.status_code == 400 and typo.json()["error"] == "Validation failed: name"
    assert {d["path"]: d["message"] for d in typo.json()["details"]}["nmae"].startswith("unknown field, ignored")
    bad = http.get(url(http, "/v1/records"), params={"limit": "0", "limitt": "5"})
    assert bad.status_code == 400 and [d["path"] for d in bad.json()["details"]] == ["limit", "limitt"]


def test_names_that_do_not_fit_a_header_are_percent_encoded(http):
    answer = http.post(url(http, "/v1/records"), json={"type": "t", "name": "n", "a\nb": 1, "é, x": 2})
    assert answer.status_code == 201 and answer.headers[IGNORED] == "body.a%0Ab, body.%C3%A9%2C%20x"


def test_strict_contract_refuses_unknown_fields_as_violations():
    with RunningServer(SandboxSettings(strict_contract=True)) as strict:
        headers = {"Authorization": "Bearer rt_test_strict"}
        body = requests.post(strict.url + "/v1/records", json={"type": "t", "name": "n", "colour": "red"},
                             headers=headers)
        assert body.status_code == 400 and body.json()["details"][0]["path"] == "colour"
        query = requests.get(strict.url + "/v1/records", params={"utm": "1"}, headers=headers)
        assert query.status_code == 400 and query.json()["details"][0]["path"] == "utm"
        assert IGNORED not in query.headers
        entries = journal(strict, "rt_test_strict")
        assert [(e["violation"], e["contractWarning"]) for e in entries] == [("validation", None)] * 2


def test_the_fixture_setting_turns_strict_contract_on_until_a_reset_without_it(own_server):
    headers = {"Authorization": "Bearer rt_test_fixture"}
    post = lambda: requests.post(own_server.url + "/v1/records", json={"type": "t", "name": "n", "x": 1},
                                 headers=headers)
    loaded = requests.post(own_server.url + "/__admin/fixtures", json={"settings": {"strictContract": True}})
    assert loaded.status_code in (200, 201)
    assert post().status_code == 400
    assert requests.get(own_server.url + "/__admin/state").json()["settings"]["strictContract"] is True
    requests.delete(own_server.url + "/__admin/fixtures")
    assert post().status_code == 201


def test_endpoints_that_read_no_query_report_one_as_ignored(http):
    """As the endpoints that read theirs do with a name they do not know; the control API is apart."""
    record = http.post(url(http, "/v1/records"), json={"type": "t", "name": "n"}).json()
    for method, path in [("GET", f"/v1/records/{record['id']}"), ("GET", f"/v1/records/{record['id']}/costs"),
                         ("GET", "/health"), ("DELETE", f"/v1/records/{record['id']}")]:
        answer = http.request(method, url(http, path), params={"utm_source": "mail"})
        assert answer.status_code == 200 and answer.headers[IGNORED] == "query.utm_source", path


def test_strict_contract_refuses_the_query_of_an_endpoint_that_reads_none():
    with RunningServer(SandboxSettings(strict_contract=True)) as strict:
        answer = requests.post(strict.url + "/v1/records?utm_source=mail", json={"type": "t", "name": "n"},
                               headers={"Authorization": "Bearer rt_test_strict_query"})
        assert answer.status_code == 400 and answer.json()["details"] == [
            {"path": "utm_source", "message": "unknown query parameter"}]
