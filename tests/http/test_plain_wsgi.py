"""The app does not depend on our engine: under the standard library's WSGI server it answers the
API, journals, runs scenarios (a delay holds that server's thread instead) and streams an export."""

from __future__ import annotations

import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests

from mock_runtype.http.app import create_app
from mock_runtype.sandbox.core import Sandbox
from mock_runtype.testing import new_api_key


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # wsgiref prints every request to stderr
        pass


@pytest.fixture(scope="module")
def plain():
    sandbox = Sandbox()
    httpd = make_server("127.0.0.1", 0, create_app(sandbox), handler_class=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", sandbox
    httpd.shutdown()
    httpd.server_close()


def test_records_are_created_read_and_journaled(plain):
    url, sandbox = plain
    key = new_api_key()
    auth = {"Authorization": f"Bearer {key}"}
    created = requests.post(url + "/v1/records", json={"type": "customer", "name": "Acme"}, headers=auth, timeout=5)
    assert created.status_code == 201
    record = requests.get(f"{url}/v1/records/{created.json()['id']}", headers=auth, timeout=5).json()
    assert record["name"] == "Acme" and record["type"] == "customer"
    duplicate = requests.post(url + "/v1/records", json={"type": "customer", "name": "Acme"}, headers=auth, timeout=5)
    assert duplicate.status_code == 409 and "error" in duplicate.json()
    assert [(e["method"], e["status"]) for e in sandbox.journal.entries(key)] == [("POST", 201), ("GET", 200), ("POST", 409)]


def test_a_scenario_delay_holds_the_servers_thread_and_still_answers(plain):
    url, sandbox = plain
    key = new_api_key()
    sandbox.add_scenario({"name": "slow", "match": {"path": "/v1/records"}, "delayMs": 300,
                          "respond": {"status": 503, "body": {"error": "down"}}}, key)
    started = time.monotonic()
    answer = requests.get(url + "/v1/records", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert answer.status_code == 503 and answer.json() == {"error": "down"}
    assert time.monotonic() - started >= 0.3  # a sleep never ends early


def test_an_export_streams_through(plain):
    url, _ = plain
    auth = {"Authorization": f"Bearer {new_api_key()}"}
    for name in ("a", "b"):
        requests.post(url + "/v1/records", json={"type": "lead", "name": name}, headers=auth, timeout=5)
    export = requests.get(url + "/v1/records/export?type=lead", headers=auth, timeout=5)
    assert export.status_code == 200 and export.text.count("\n") >= 3
