"""Web pages, proxies and odd encodings against the sandbox: no page can read or rewrite the control
API, whatever its origin, media type or way of spelling `/__admin`, while curl, the plugin's
client and the API's own CORS go on as before."""

from __future__ import annotations

import gzip

import pytest
import requests

from mock_runtype.testing import Control
from tests.hardening.raw import send

EVIL = "https://evil.example"
YAML_SETTINGS = "settings: {strictAuth: true}\n"


# item 1: the control API is for the test that drives it, never for a web page

def test_a_page_cannot_read_the_state(server):
    answer = requests.get(server.url + "/__admin/state", headers={"Origin": EVIL}, timeout=5)
    assert answer.status_code == 403
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert answer.json() == {"error": "Forbidden: the control API takes no requests from web pages "
                                      "(Origin https://evil.example is not this server's own)"}


@pytest.mark.parametrize("path", ["/__admin/fixtures", "/__admin/state", "/__admin/reset", "/__admin/nope"])
def test_a_preflight_to_the_control_api_grants_nothing(server, path):
    answer = requests.options(server.url + path, timeout=5, headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert answer.status_code == 403
    assert not any(name.lower().startswith("access-control-") for name in answer.headers)


def test_a_preflight_from_its_own_origin_names_no_origin_either(server):
    answer = requests.options(server.url + "/__admin/fixtures", timeout=5, headers={
        "Origin": server.url, "Access-Control-Request-Method": "POST"})
    assert answer.status_code == 200
    assert not any(name.lower().startswith("access-control-") for name in answer.headers)


def test_the_records_api_keeps_its_cors(server):
    answer = requests.options(server.url + "/v1/records", timeout=5, headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert answer.status_code == 204 and answer.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("content_type", [
    "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None])
def test_a_simple_request_body_is_refused_and_changes_nothing(own_server, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    answer = send(own_server.url, "POST", "/__admin/fixtures", YAML_SETTINGS.encode(), headers)
    assert answer.status == 415
    assert answer.json()["error"].startswith("Send the control API's bodies as application/json or application/yaml")
    assert not own_server.sandbox.settings.strict_auth
    assert own_server.admin("GET", "/fixtures").json() == {"fixtures": []}


def test_a_scenario_in_text_plain_is_refused(own_server):
    answer = send(own_server.url, "POST", "/__admin/scenarios", b'{"respond": {"status": 503}}',
                  {"Content-Type": "text/plain"})
    assert answer.status == 415
    assert own_server.admin("GET", "/scenarios").json() == {"scenarios": []}


@pytest.mark.parametrize("content_type", [
    "application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
    "application/vnd.test+yaml", "application/json; charset=utf-8"])
def test_json_and_yaml_documents_load_as_before(own_server, content_type):
    body = '{"settings": {"strictAuth": true}}' if "json" in content_type else YAML_SETTINGS
    answer = own_server.admin("POST", "/fixtures", data=body.encode(), headers={"Content-Type": content_type})
    assert answer.status_code == 201, answer.text


def test_a_bodiless_reset_from_a_page_is_refused(own_server, api_key):
    created = requests.post(own_server.url + "/v1/records", json={"type": "t", "name": "kept"},
                            headers={"Authorization": f"Bearer {api_key}"}, timeout=5)
    assert created.status_code == 201
    answer = send(own_server.url, "POST", "/__admin/reset", headers={"Origin": EVIL})
    assert answer.status == 403
    assert own_server.sandbox.store.count(api_key) == 1


@pytest.mark.parametrize("origin", ["null", "http://localhost:1", EVIL])
def test_any_other_origin_is_refused(server, origin):
    assert send(server.url, "POST", "/__admin/reset?tenant=rt_x", headers={"Origin": origin}).status == 403


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_cross_site_fetch_without_an_origin_is_refused(server, site):
    answer = send(server.url, "GET", "/__admin/clock", headers={"Sec-Fetch-Site": site})
    assert answer.status == 403
    assert answer.json() == {"error": f"Forbidden: the control API takes no requests from web pages (Sec-Fetch-Site: {site})"}


def test_its_own_origin_and_a_typed_address_are_let_in(server):
    assert send(server.url, "GET", "/__admin/clock", headers={"Origin": server.url}).status == 200
    assert send(server.url, "GET", "/__admin/clock", headers={"Sec-Fetch-Site": "none"}).status == 200
    assert send(server.url, "GET", "/__admin/clock", headers={"Sec-Fetch-Site": "same-origin"}).status == 200


def test_curl_like_clients_and_the_plugins_client_work_unchanged(own_server, api_key):
    control = Control(own_server.url)
    assert control.check()["status"] == "ok"
    tenant = control.tenant(api_key)
    assert tenant.load_fixtures("records:\n  - {type: customer, name: Seeded}\n") == []
    tenant.add_scenario({"name": "once", "when": {"method": "POST"}, "times": 1, "respond": {"status": 503}})
    tenant.set_clock("2024-06-10T09:15:30Z")
    tenant.reset()
    assert send(own_server.url, "POST", "/__admin/reset").status == 200  # bodiless, as curl -X POST sends it
