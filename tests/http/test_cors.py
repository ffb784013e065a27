"""CORS: a browser's preflight is answered, and answers name the origins allowed to read them."""

from __future__ import annotations

import pytest
import requests

from mock_runtype.http.cors import EXPOSED_HEADERS
from mock_runtype.sandbox.core import SandboxSettings
from mock_runtype.testing import LocalServer
from tests.conftest import url

APP = "https://app.example.com"


def preflight(base: str, path: str, origin: str = APP, method: str = "POST", headers: str = "authorization, content-type"):
    return requests.options(base + path, timeout=5, headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers})


@pytest.fixture(scope="module")
def listed():
    """The URL of a server that allows two origins only."""
    with LocalServer(SandboxSettings(cors_origins=(APP, "http://localhost:3000")), threads=2) as running:
        yield running.url


@pytest.mark.parametrize("path", ["/v1/records", "/v1/records/some-id", "/v1/records/bulk-edit", "/health"])
def test_preflight_is_204_with_methods_and_headers(server, path):
    answer = preflight(server.url, path, method="PATCH")
    assert answer.status_code == 204 and answer.content == b""
    assert "Content-Type" not in answer.headers
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert {m.strip() for m in answer.headers["Access-Control-Allow-Methods"].split(",")} >= {
        "GET", "POST", "PUT", "PATCH", "DELETE"}
    assert answer.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert int(answer.headers["Access-Control-Max-Age"]) > 0


def test_preflight_allows_the_extra_headers_an_sdk_asks_for(server):
    answer = preflight(server.url, "/v1/records", headers="Content-Type, X-Fern-Language, authorization")
    assert answer.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type, X-Fern-Language"


def test_answers_carry_the_origin_and_expose_headers(http):
    created = http.post(url(http, "/v1/records"), json={"type": "t", "name": "n"}, headers={"Origin": APP})
    assert created.status_code == 201
    assert created.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in created.headers["Access-Control-Expose-Headers"]
    assert created.headers["Access-Control-Expose-Headers"] == EXPOSED_HEADERS


def test_errors_carry_them_too(server):
    unauthorized = requests.get(server.url + "/v1/records", headers={"Origin": APP}, timeout=5)
    assert unauthorized.status_code == 401
    assert unauthorized.headers["Access-Control-Allow-Origin"] == "*"
    assert "WWW-Authenticate" in unauthorized.headers["Access-Control-Expose-Headers"]


def test_no_cors_headers_without_an_origin(http):
    answer = http.get(url(http, "/v1/records"))
    assert answer.status_code == 200
    assert not any(name.lower().startswith("access-control-") for name in answer.headers)


def test_a_plain_options_request_is_not_a_preflight(server):
    answer = requests.options(server.url + "/v1/records", timeout=5)
    assert answer.status_code == 200
    assert {"GET", "POST"} <= {m.strip() for m in answer.headers["Allow"].split(",")}


def test_a_listed_origin_is_named_and_others_are_refused(listed):
    allowed = preflight(listed, "/v1/records", origin="http://localhost:3000")
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert allowed.headers["Vary"] == "Origin"

    refused = preflight(listed, "/v1/records", origin="https://evil.example")
    assert refused.status_code == 403
    assert refused.json() == {"error": "Origin https://evil.example is not allowed (the server's --cors-origin)"}
    assert "Access-Control-Allow-Origin" not in refused.headers

    read = requests.get(listed + "/health", headers={"Origin": "https://evil.example"}, timeout=5)
    assert read.status_code == 200 and "Access-Control-Allow-Origin" not in read.headers
    assert read.headers["Vary"] == "Origin"
