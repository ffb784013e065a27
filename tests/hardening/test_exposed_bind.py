"""A server bound beyond loopback without an admin token says so at start-up, naming the flag; the
plugin's client sends the token on every control call."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mock_runtype.sandbox.core import SandboxSettings
from mock_runtype.server import beyond_loopback
from mock_runtype.testing import AdminError, Control, LocalServer, new_api_key
from tests.hardening.test_access import free_port, health
from tests.waiting import wait_until


@pytest.mark.parametrize(("host", "beyond"), [("127.0.0.1", False), ("localhost", False), ("127.0.0.2", False),
                                              ("::1", False), ("0.0.0.0", True), ("::", True), ("192.0.2.7", True)])
def test_beyond_loopback(host, beyond):
    assert beyond_loopback(host) is beyond


def start_up_lines(*args: str, token: str | None = None) -> str:
    """What `serve` prints on stderr before it answers (stopped right after)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_RUNTYPE_")}
    if token:
        env["MOCK_RUNTYPE_ADMIN_TOKEN"] = token
    process = subprocess.Popen([sys.executable, "-m", "mock_runtype", "serve", "--port", str(port), "--quiet", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # a subprocess's start: polled under the generous deadline of tests.waiting
        assert wait_until(lambda: health(port, process), message="the server did not start") == 200
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    return err


def test_an_open_control_api_on_every_interface_is_warned_of():
    err = start_up_lines("--host", "0.0.0.0")  # bound for a moment; only loopback is spoken to
    assert "WARNING the control API (/__admin) is open to anyone who can reach http://0.0.0.0:" in err
    assert "--admin-token" in err and "MOCK_RUNTYPE_ADMIN_TOKEN" in err


def test_no_warning_with_a_token_or_on_loopback():
    assert "WARNING" not in start_up_lines("--host", "0.0.0.0", token="adm-secret-1")
    assert "WARNING" not in start_up_lines()


def test_the_plugins_client_sends_the_token_on_every_control_call():
    """What `--runtype-url` with `MOCK_RUNTYPE_ADMIN_TOKEN` drives: each call the plugin makes."""
    with LocalServer(SandboxSettings(admin_token="adm-every-call")) as guarded:
        control = Control(guarded.url, admin_token="adm-every-call")
        control.check()
        tenant = control.tenant(new_api_key())
        tenant.load_fixtures({"records": [{"type": "t", "name": "n"}]})
        tenant.add_scenario({"name": "s", "respond": {"status": 503}})
        tenant.remove_scenario("s")
        tenant.set_clock("2024-06-10T09:15:30Z")
        tenant.advance_clock(1)
        assert tenant.clock()["controlled"] and len(tenant.state()["records"]) == 1
        assert tenant.scenarios() == [] and tenant.requests() == []
        tenant.clear_requests()
        tenant.reset()
        tenant.forget()
        with pytest.raises(AdminError) as refused:
            Control(guarded.url).tenant(new_api_key()).reset()
        assert refused.value.status == 401
