"""`GET /`: links to what the server offers, as JSON or, for a browser, HTML."""

from __future__ import annotations

import requests

from mock_runtype.http.app import create_app

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_json_for_a_client_and_for_curls_any(server):
    for accept in ("application/json", "*/*"):
        answer = requests.get(server.url + "/", headers={"Accept": accept}, timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
        body = answer.json()
        assert body["name"] == "mock-runtype"
        assert [(link["rel"], link["href"]) for link in body["links"]] == [("openapi", "/openapi.json"),
                                                                             ("health", "/health"),
                                                                             ("console", "/__admin/ui")]
        assert "docs/index.md" in body["docs"]
        assert "Accept" in answer.headers["Vary"]
    for link in body["links"]:  # each is served
        assert requests.get(server.url + link["href"], timeout=10).status_code == 200


def test_html_for_a_browser(server):
    answer = requests.get(server.url + "/", headers={"Accept": BROWSER_ACCEPT}, timeout=10)
    assert answer.headers["Content-Type"].startswith("text/html")
    assert '<a href="/openapi.json">openapi</a>' in answer.text and '<a href="/health">health</a>' in answer.text
    assert '<a href="/__admin/ui">console</a>' in answer.text


def test_opening_the_root_is_no_contract_violation(http, server, api_key):
    http.get(server.url + "/", timeout=10)
    [entry] = requests.get(server.url + "/__admin/requests", params={"tenant": api_key}, timeout=10).json()["requests"]
    assert entry["status"] == 200 and entry["violation"] is None
