"""The smaller points of issue 14: a bodiless scenario error is JSON, OPTIONS names each path's
own methods, `/__admin` spelled with escapes is not the control API, and an encoded body is
refused rather than read as the text it is not."""

from __future__ import annotations

import gzip

import pytest
import requests

from tests.conftest import url
from tests.hardening.raw import send

CREATE = b'{"type": "t", "name": "encoded"}'


def test_a_bodiless_error_scenario_answers_a_json_error(server, http, api_key):
    added = server.admin("POST", "/scenarios", params={"tenant": api_key},
                         json={"when": {"path": "/v1/records"}, "respond": {"status": 503}})
    assert added.status_code == 201
    answer = http.get(url(http, "/v1/records"))
    assert answer.status_code == 503
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"error": "Service Unavailable"}


def test_a_scenarios_text_body_and_success_are_kept_as_given(server, http, api_key):
    for scenario in ({"name": "text", "when": {"path": "/v1/records/text"}, "respond": {"status": 502, "text": "bad gateway"}},
                     {"name": "body", "when": {"path": "/v1/records/body"}, "respond": {"status": 500, "body": {"e": 1}}},
                     {"name": "none", "when": {"path": "/v1/records/none"}, "respond": {"status": 204}}):
        assert server.admin("POST", "/scenarios", params={"tenant": api_key}, json=scenario).status_code == 201
    text = http.get(url(http, "/v1/records/text"))
    assert (text.status_code, text.headers["Content-Type"], text.text) == (502, "text/plain; charset=utf-8", "bad gateway")
    body = http.get(url(http, "/v1/records/body"))
    assert (body.status_code, body.json()) == (500, {"e": 1})
    empty = http.get(url(http, "/v1/records/none"))
    assert (empty.status_code, empty.content) == (204, b"") and "Content-Type" not in empty.headers


@pytest.mark.parametrize(("path", "allowed"), [
    ("/v1/records/bulk-delete", {"POST", "OPTIONS"}),
    ("/v1/records/bulk-edit", {"POST", "OPTIONS"}),
    ("/v1/records/preview-filter", {"POST", "OPTIONS"}),
    ("/v1/records/upload-csv", {"POST", "OPTIONS"}),
    ("/v1/records/export", {"GET", "HEAD", "OPTIONS"}),
    ("/v1/records/schema", {"GET", "HEAD", "OPTIONS"}),
    ("/v1/records/field-values", {"GET", "HEAD", "OPTIONS"}),
    ("/v1/records/some-id", {"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}),
    ("/v1/records", {"GET", "HEAD", "POST", "OPTIONS"}),
    ("/__admin/fixtures", {"GET", "HEAD", "POST", "DELETE", "OPTIONS"}),
])
def test_options_names_the_paths_own_methods(server, path, allowed):
    answer = requests.options(server.url + path, timeout=5)
    assert answer.status_code == 200
    assert {m.strip() for m in answer.headers["Allow"].split(",")} == allowed


@pytest.mark.parametrize("path", ["/%5F%5Fadmin/state", "/%5f%5fadmin/clock", "/__adm%69n/requests",
                                  "/__admin%2Freset"])
def test_an_escaped_admin_prefix_is_not_the_control_api(server, path):
    answer = send(server.url, "GET", path)
    assert answer.status == 404
    assert answer.json() == {"error": f"Not found: GET {path}"}


def test_escapes_after_the_prefix_still_work(server):
    answer = send(server.url, "DELETE", "/__admin/scenarios/no%20such?tenant=rt_escapes")
    assert answer.status == 404 and answer.json() == {"error": "No scenario named 'no such' for this tenant"}


@pytest.mark.parametrize("encoding", ["gzip", "br", "identity, deflate"])
def test_an_encoded_body_is_refused(server, http, api_key, encoding):
    body = gzip.compress(CREATE, mtime=0) if encoding == "gzip" else CREATE
    answer = send(server.url, "POST", "/v1/records", body, {
        "Authorization": f"Bearer {api_key}", "Content-Type": "application/json", "Content-Encoding": encoding})
    assert answer.status == 415
    assert answer.json()["error"].startswith("Content-Encoding '")
    assert http.get(url(http, "/v1/records")).json()["data"] == []


def test_an_encoded_control_body_is_refused(own_server):
    answer = send(own_server.url, "POST", "/__admin/fixtures", b"settings: {strictAuth: true}\n",
                  {"Content-Type": "application/yaml", "Content-Encoding": "gzip"})
    assert answer.status == 415
    assert not own_server.sandbox.settings.strict_auth


def test_identity_is_no_encoding(http):
    answer = http.post(url(http, "/v1/records"), data=CREATE,
                       headers={"Content-Type": "application/json", "Content-Encoding": "identity"})
    assert answer.status_code == 201


@pytest.mark.parametrize("path", ["/__admin//clock", "/v1//records", "/v1/records//bulk-delete"])
def test_a_doubled_slash_is_a_json_404_not_an_html_redirect(server, api_key, path):
    answer = send(server.url, "GET", path, headers={"Authorization": f"Bearer {api_key}", "Connection": "close"})
    assert answer.status == 404
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"error": f"Not found: GET {path}"}
