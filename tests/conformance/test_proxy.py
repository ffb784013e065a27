"""The validating proxy in front of a second sandbox: answers pass unchanged, the ones that break
the sandbox's document are journaled and summarised, the key is never written anywhere."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from mock_runtype.conformance.proxy import Proxy
from mock_runtype.serving.adapter import ServerSettings, bind
from mock_runtype.testing import LocalServer, new_api_key
from tests.waiting import STOP_BOUND_S, wait_until

COMMAND = [str(Path(sys.executable).with_name("mock-runtype"))]


@pytest.fixture
def upstream():
    with LocalServer() as server:
        yield server


@pytest.fixture
def proxied(upstream):
    proxy = Proxy(upstream.url)
    server = bind(proxy, ServerSettings(port=0, threads=4), off_loop=True)
    server.start()
    yield proxy, f"http://127.0.0.1:{server.port}"
    server.close()


def test_requests_and_answers_pass_unchanged(upstream, proxied):
    proxy, url = proxied
    key = new_api_key()
    auth = {"Authorization": f"Bearer {key}"}
    made = requests.post(f"{url}/v1/records", json={"type": "t", "name": "n", "metadata": {"a": 1}}, headers=auth,
                         timeout=10)
    assert made.status_code == 201
    direct = requests.get(f"{upstream.url}/v1/records/{made.json()['id']}", headers=auth, timeout=10)
    through = requests.get(f"{url}/v1/records/{made.json()['id']}", headers=auth, timeout=10)
    assert through.status_code == direct.status_code == 200 and through.content == direct.content
    assert through.headers["Content-Type"] == direct.headers["Content-Type"]
    listed = requests.get(f"{url}/v1/records", params={"type": "t", "limit": 1}, headers=auth, timeout=10)
    assert [r["id"] for r in listed.json()["data"]] == [made.json()["id"]]  # the query went along
    refused = requests.get(f"{url}/v1/records", timeout=10)
    assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers
    summary = requests.get(f"{url}/__admin/proxy", timeout=10).json()
    assert summary["checked"] == 4 and summary["breaking"] == 0  # the direct read went around it


def test_answers_that_break_the_document_are_journaled_and_summarised(upstream, proxied):
    proxy, url = proxied
    key = new_api_key()
    auth = {"Authorization": f"Bearer {key}"}
    upstream.sandbox.add_scenario({"name": "nameless", "when": {"method": "GET", "path": "/v1/records/*"},
                                   "respond": {"status": 200, "body": {"id": "x", "type": "t"}}}, key)
    upstream.sandbox.add_scenario({"name": "teapot", "when": {"method": "POST", "path": "/v1/records"},
                                   "respond": {"status": 418, "body": {"error": "teapot"}}}, key)
    upstream.sandbox.add_scenario({"name": "html-error", "when": {"method": "DELETE", "path": "/v1/records/*"},
                                   "respond": {"status": 404, "text": "<h1>gone</h1>"}}, key)
    read = requests.get(f"{url}/v1/records/abc", headers=auth, timeout=10)
    assert read.status_code == 200 and read.json() == {"id": "x", "type": "t"}  # unchanged, though wrong
    assert requests.post(f"{url}/v1/records", json={"type": "t", "name": "n"}, headers=auth,
                         timeout=10).status_code == 418
    assert requests.delete(f"{url}/v1/records/abc", headers=auth, timeout=10).text == "<h1>gone</h1>"
    summary = requests.get(f"{url}/__admin/proxy", timeout=10).json()
    assert summary["checked"] == 3 and summary["breaking"] == 3
    by_operation = {v["operationId"]: v for v in summary["violations"]}
    assert {"getRecord", "createRecord", "deleteRecord"} == set(by_operation)
    assert any(d["path"] == "name" or "name" in d["message"] for d in by_operation["getRecord"]["details"])
    assert "not documented" in by_operation["createRecord"]["problem"]
    assert "text/plain" in by_operation["deleteRecord"]["problem"]
    assert key not in json.dumps(summary)
    requests.delete(f"{url}/__admin/proxy", timeout=10)
    assert requests.get(f"{url}/__admin/proxy", timeout=10).json()["checked"] == 0


def test_an_upstream_that_does_not_answer_is_a_502():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proxy = Proxy(f"http://127.0.0.1:{port}")
    server = bind(proxy, ServerSettings(port=0), off_loop=True)
    server.start()
    try:
        answer = requests.get(f"http://127.0.0.1:{server.port}/v1/records", timeout=10)
    finally:
        server.close()
    assert answer.status_code == 502 and "did not answer" in answer.json()["error"]


def test_the_command_prints_the_summary_on_sigterm_and_never_the_key(upstream):
    key = new_api_key()
    upstream.sandbox.add_scenario({"name": "teapot", "when": {"method": "GET", "path": "/v1/records"},
                                   "respond": {"status": 418, "body": {"error": "teapot"}}}, key)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(COMMAND + ["proxy", "--upstream", upstream.url, "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def answered():
            try:
                return [requests.get(f"http://127.0.0.1:{port}/v1/records",
                                     headers={"Authorization": f"Bearer {key}"}, timeout=5)]  # a 418 is falsy
            except requests.ConnectionError:
                return None
        assert wait_until(answered, message="the proxy never answered")[0].status_code == 418
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=STOP_BOUND_S + 10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "1 answers checked, 1 broke" in err and "listRecords 418" in err
    assert key not in out + err


def test_a_bad_upstream_is_a_usage_error():
    done = subprocess.run(COMMAND + ["proxy", "--upstream", "ftp://x"], capture_output=True, text=True, timeout=20,
                          env={k: v for k, v in os.environ.items() if not k.startswith("MOCK_RUNTYPE_")})
    assert done.returncode == 2 and "not an http(s) URL" in done.stderr
