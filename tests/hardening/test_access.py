"""Access: the server binds loopback unless told otherwise, the control API wants its token when
one is set, and neither API keys nor the admin token ever reach the logs or the journal (only
their fingerprints do)."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys

import pytest
import requests

from mock_runtype.config import resolve
from mock_runtype.serving.logs import JsonFormatter, TextFormatter
from mock_runtype.sandbox.core import SandboxSettings
from mock_runtype.model.tenancy import fingerprint
from tests.conftest import RunningServer
from tests.waiting import wait_until

ADMIN_TOKEN = "adm-9f8e7d6c5b4a-secret"
API_KEY = "rt_test_never-in-logs-4242"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def non_loopback_address() -> str | None:
    """An address of this machine other than loopback (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = sock.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def health(port: int, process: subprocess.Popen) -> int | None:
    """The status /health answers, or None while nothing listens yet (it must not have exited)."""
    assert process.poll() is None, "the server exited"
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code
    except requests.ConnectionError:
        return None


def test_serve_binds_loopback_by_default():
    assert resolve({}, {}).server.host == "127.0.0.1"
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "mock_runtype", "serve", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # a subprocess's start: polled under the generous deadline of tests.waiting
        assert wait_until(lambda: health(port, process), message="the server did not start") == 200
        other = non_loopback_address()
        if other is not None:
            with pytest.raises(OSError):
                socket.create_connection((other, port), timeout=2).close()
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def guarded():
    running = RunningServer(SandboxSettings(admin_token=ADMIN_TOKEN), access_log=True)
    yield running
    running.close()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-Admin-Token": ADMIN_TOKEN[:-1]},
                                     {"Authorization": f"Bearer {API_KEY}"}])
def test_admin_api_answers_401_without_the_token(guarded, headers):
    for method, path in [("GET", "/__admin/requests"), ("POST", "/__admin/reset"), ("GET", "/__admin/state")]:
        response = requests.request(method, guarded.url + path, headers=headers, timeout=10)
        assert response.status_code == 401 and response.json()["error"].startswith("Unauthorized")


def test_admin_api_answers_with_the_token(guarded):
    for headers in ({"Authorization": f"Bearer {ADMIN_TOKEN}"}, {"X-Admin-Token": ADMIN_TOKEN}):
        assert requests.get(guarded.url + "/__admin/requests", headers=headers, timeout=10).status_code == 200


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_tokens_never_reach_the_logs_or_the_journal(guarded, caplog, access_log, log_format):
    caplog.set_level(logging.DEBUG)
    access_log.configure(log_format)
    auth = {"Authorization": f"Bearer {API_KEY}"}
    requests.post(guarded.url + "/v1/records", json={"type": "t", "name": "n"}, headers=auth, timeout=10)
    requests.get(guarded.url + "/v1/records/missing", headers=auth, timeout=10)
    requests.get(guarded.url + "/v1/records", headers={"Authorization": API_KEY}, timeout=10)
    requests.get(guarded.url + "/__admin/requests", headers={"Authorization": "Bearer wrong-admin"}, timeout=10)
    journal = requests.get(guarded.url + "/__admin/requests", headers={"X-Admin-Token": ADMIN_TOKEN}, timeout=10).text
    state = requests.get(guarded.url + "/__admin/state", headers={"X-Admin-Token": ADMIN_TOKEN}, timeout=10)

    assert API_KEY not in journal and ADMIN_TOKEN not in journal
    assert fingerprint(API_KEY) in journal, "the journal names the tenant by its fingerprint"
    assert state.status_code == 200 and ADMIN_TOKEN not in state.text
    access = access_log()
    assert len(access) >= 5, "the access log saw the requests"
    assert any(f"fp:{fingerprint(API_KEY)}" in line or fingerprint(API_KEY) in line for line in access), \
        "an error line names the tenant by its fingerprint"
    logged = "\n".join([*access, *(TextFormatter().format(record) for record in caplog.records),
                        *(JsonFormatter().format(record) for record in caplog.records)])
    assert API_KEY not in logged and ADMIN_TOKEN not in logged and "wrong-admin" not in logged
