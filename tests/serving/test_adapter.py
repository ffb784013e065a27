"""The seam (`serving.adapter.bind`): binds where it is told or says why it cannot, and serves an
app of `create_app` by its plan: a delay held without a thread and the app called once, heavy
requests off the loop, a scenario's connection fault as a dropped connection. (The engine itself:
test_engine.py; the app under another WSGI server: tests/http/test_plain_wsgi.py.)"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from mock_runtype.http.app import create_app
from mock_runtype.http.interception import INLINE_WORK_BUDGET
from mock_runtype.sandbox.core import Sandbox
from mock_runtype.serving.adapter import ServerSettings, bind
from mock_runtype.testing import new_api_key


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]


def loopback(port: int = 0, threads: int = 1) -> ServerSettings:
    return ServerSettings(host="127.0.0.1", port=port, threads=threads)


def test_serves_any_wsgi_app_and_reports_the_port_it_got():
    server = bind(hello, loopback(threads=2))
    server.start()
    try:
        assert server.port > 0
        assert requests.get(f"http://127.0.0.1:{server.port}/", timeout=5).text == "done"
    finally:
        server.close()


def test_a_port_in_use_raises_oserror():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            bind(hello, loopback(taken.getsockname()[1]))


def test_an_unknown_host_raises_oserror():
    with pytest.raises(OSError):
        bind(hello, ServerSettings(host="no-such-host.invalid", port=0))


def test_close_before_start_releases_the_port():
    server = bind(hello, loopback())
    server.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


@pytest.fixture
def sandbox_server():
    """A sandbox behind the seam with one worker thread, and a way to count the app's calls."""
    app = create_app(Sandbox())
    calls: list[tuple[str, str]] = []
    flask_wsgi = app.wsgi_app.app  # inside the interception: called once per answered request

    def counting(environ, start_response):
        calls.append((environ["PATH_INFO"], threading.current_thread().name))
        return flask_wsgi(environ, start_response)

    app.wsgi_app.app = counting
    server = bind(app, loopback())
    server.start()
    yield f"http://127.0.0.1:{server.port}", app.extensions["mock_runtype"], calls
    server.close()


def test_a_delayed_request_is_held_without_a_thread_and_the_app_is_called_once(sandbox_server):
    url, sandbox, calls = sandbox_server
    key = new_api_key()
    auth = {"Authorization": f"Bearer {key}"}
    sandbox.add_scenario({"name": "slow", "match": {"path": "/v1/records"}, "delayMs": 3000}, key)
    delayed = [threading.Thread(target=requests.get, args=(url + "/v1/records",), kwargs={"headers": auth, "timeout": 60})
               for _ in range(4)]
    for thread in delayed:
        thread.start()
    assert requests.get(url + "/health", timeout=5).status_code == 200
    assert all(thread.is_alive() for thread in delayed), "answered while four delays held the one worker's place"
    for thread in delayed:
        thread.join()
    assert [name for path, name in calls if path == "/v1/records"] == ["mock-runtype-engine"] * 4


def test_a_request_whose_estimated_work_is_over_the_budget_is_answered_on_a_worker(sandbox_server):
    """Decided from the cost, not the path: the same export is inline for a small tenant and on a
    worker for a large one; a page from the index stays inline however large the tenant."""
    url, sandbox, calls = sandbox_server
    small, large = new_api_key(), new_api_key()
    for number in range(INLINE_WORK_BUDGET + 1):
        sandbox.store.create(sandbox.tenant(large), {"type": "lead", "name": f"lead {number}"})
    for key in (small, large):
        auth = {"Authorization": f"Bearer {key}"}
        assert requests.get(url + "/v1/records/export?type=lead", headers=auth, timeout=30).status_code in (200, 204)
        assert requests.get(url + "/v1/records?type=lead&limit=5", headers=auth, timeout=10).status_code == 200
    assert calls == [("/v1/records/export", "mock-runtype-engine"), ("/v1/records", "mock-runtype-engine"),
                     ("/v1/records/export", "mock-runtype-worker-0"), ("/v1/records", "mock-runtype-engine")]


def test_the_control_apis_state_export_is_heavy_when_the_server_holds_many_records(sandbox_server):
    url, sandbox, calls = sandbox_server
    requests.get(url + "/__admin/state", timeout=10).raise_for_status()
    tenant = sandbox.tenant(new_api_key())
    for number in range(INLINE_WORK_BUDGET + 1):
        sandbox.store.create(tenant, {"type": "lead", "name": f"lead {number}"})
    requests.get(url + "/__admin/state", timeout=30).raise_for_status()
    assert calls == [("/__admin/state", "mock-runtype-engine"), ("/__admin/state", "mock-runtype-worker-0")]


def test_a_connection_fault_drops_the_connection_and_is_journaled(sandbox_server):
    url, sandbox, _ = sandbox_server
    key = new_api_key()
    sandbox.add_scenario({"name": "cut", "match": {"path": "/v1/records"}, "fault": "connection_reset"}, key)
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/v1/records", headers={"Authorization": f"Bearer {key}"}, timeout=5)
    assert [entry["fault"] for entry in sandbox.journal.entries(key)] == ["connection_reset"]
