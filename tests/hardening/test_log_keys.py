"""API keys never reach the access log: the control API's `?tenant=<apiKey>` (the documented way
to isolate a test) is logged as the key's fingerprint, in text and JSON formats alike."""

from __future__ import annotations

import json

import pytest
import requests

from mock_runtype.model.tenancy import fingerprint
from tests.conftest import RunningServer

API_KEY = "rt_test_secret-in-a-query-7171"


@pytest.fixture(scope="module")
def logged_server():
    with RunningServer(access_log=True) as running:
        yield running


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_tenant_query_is_logged_as_its_fingerprint(logged_server, access_log, log_format):
    access_log.configure(log_format)
    requests.post(logged_server.url + "/__admin/reset", params={"tenant": API_KEY}, timeout=10)
    requests.get(logged_server.url + "/__admin/requests", timeout=10,
                 params={"method": "GET", "tenant": API_KEY, "status": "200"})
    requests.get(logged_server.url + f"/__admin/state?tenant={API_KEY.replace('_', '%5F')}", timeout=10)
    lines = access_log()
    assert len(lines) == 3 and not any(API_KEY in line for line in lines)
    paths = [line.split(" ")[2] if log_format == "text" else json.loads(line)["path"] for line in lines]
    tenant = f"tenant=fp:{fingerprint(API_KEY)}"
    assert paths == [f"/__admin/reset?{tenant}", f"/__admin/requests?method=GET&{tenant}&status=200",
                     f"/__admin/state?{tenant}"]


def test_other_parameters_are_logged_as_sent(logged_server, access_log):
    requests.get(logged_server.url + "/__admin/requests?path=/v1/records&tenant=", timeout=10)
    [line] = access_log()
    assert " /__admin/requests?path=/v1/records&tenant= " in line
