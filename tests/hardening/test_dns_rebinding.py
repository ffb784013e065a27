"""DNS rebinding against the control API: a page on http://evil.example:PORT whose name is made to
point at 127.0.0.1 is same-origin with the sandbox, so its `Origin` matches the `Host` it sends
and it may read every answer. Without an admin token the control API answers only to names a page
cannot rebind (IP addresses, localhost) and to those given with `--admin-host`. One-label names are
not among them: a neighbour on the network can answer for those (LLMNR, NetBIOS)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from mock_runtype.http.admin_routes import answers_to
from mock_runtype.sandbox.core import SandboxSettings
from tests.conftest import RunningServer
from tests.hardening.raw import send


def rebound_name(server: RunningServer, name: str = "evil.example") -> str:
    return f"{name}:{urlsplit(server.url).port}"


def test_a_rebound_page_cannot_reset_the_server(own_server):
    rebound = rebound_name(own_server)
    answer = send(own_server.url, "POST", "/__admin/reset",
                  headers={"Host": rebound, "Origin": f"http://{rebound}", "Connection": "close"})
    assert answer.status == 403
    assert "DNS rebinding" in answer.json()["error"]
    assert "--admin-host" in answer.json()["error"]


def test_a_rebound_page_cannot_read_the_state(own_server):
    # a same-origin GET over plain http carries neither Origin nor Sec-Fetch-Site: only Host tells
    answer = send(own_server.url, "GET", "/__admin/state",
                  headers={"Host": rebound_name(own_server), "Connection": "close"})
    assert answer.status == 403
    assert "apiKey" not in answer.body.decode()


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST.", "app.localhost", "[::1]"])
def test_names_a_page_cannot_rebind_reach_the_control_api(own_server, name):
    answer = send(own_server.url, "GET", "/__admin/requests",
                  headers={"Host": rebound_name(own_server, name), "Connection": "close"})
    assert answer.status == 200, answer.body


def test_the_records_api_answers_any_host(own_server):
    # CORS and the API key govern the Records API; only the control API holds every tenant's keys
    answer = send(own_server.url, "GET", "/v1/records",
                  headers={"Host": rebound_name(own_server), "Authorization": "Bearer key-of-rebound-test",
                           "Connection": "close"})
    assert answer.status == 200


@pytest.mark.parametrize("listed", ["sandbox.internal", "runtype"])  # a Compose service's name is listed too
def test_a_name_given_with_admin_host_is_answered(listed):
    with RunningServer(SandboxSettings(admin_hosts=(listed,))) as server:
        allowed = send(server.url, "GET", "/__admin/requests",
                       headers={"Host": rebound_name(server, listed), "Connection": "close"})
        other = send(server.url, "GET", "/__admin/requests",
                     headers={"Host": rebound_name(server, "evil.example"), "Connection": "close"})
    assert (allowed.status, other.status) == (200, 403)


def test_with_an_admin_token_any_host_is_answered():
    # a rebound page does not know the token: it is the defence wherever the server is reached by name
    with RunningServer(SandboxSettings(admin_token="s3cret")) as server:
        answer = send(server.url, "GET", "/__admin/requests",
                      headers={"Host": rebound_name(server, "runtype.ci.example"),
                               "Authorization": "Bearer s3cret", "Connection": "close"})
    assert answer.status == 200


@pytest.mark.parametrize("host, expected", [
    ("", True), ("127.0.0.1:8080", True), ("10.1.2.3", True), ("[::1]:8080", True), ("[fe80::1]", True),
    ("localhost:8080", True), ("x.localhost", True), ("127.0.0.1.", True),
    ("runtype", False), ("runtype:8080", False), ("evil.example:8080", False), ("127.0.0.1.nip.io", False),
    ("localhost.evil.example", False), ("[evil.example]", False), ("localhost:80@evil.example", False),
    ("[fe80::1%evil.example]", False), ("::1", False), ("localhost:http", False),
])
def test_answers_to(host, expected):
    assert answers_to(host, ()) is expected


def test_answers_to_listed_names_and_star():
    assert answers_to("Sandbox.Internal:8080", ("sandbox.internal",))
    assert answers_to("anything.example", ("*",))
    assert not answers_to("other.internal", ("sandbox.internal",))
