"""Two `mock_runtype.mock()`s whose lives overlap without nesting (fixtures started and stopped by
hand): stopping the first must not un-mock the second, and once both are stopped nothing is left
patched, for `requests` and httpx. On the old main it failed: responses' patch of `requests` is a
plain `mock.patch`, so each stop put back what was there when it started; out of order, the
second's requests left for the network and, after both stops, `requests` stayed patched with the
first's emptied mock for good. Run in a child process so that what a regression leaves patched
cannot reach the other tests."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import httpx
import pytest
import requests

import mock_runtype

HOST = "http://127.0.0.1:9"  # nothing listens: a request that escapes the mock is refused, not sent out

OVERLAP = textwrap.dedent(f"""
    import httpx, requests, mock_runtype
    from mock_runtype.testing import new_api_key
    headers = {{"Authorization": "Bearer " + new_api_key()}}
    def status():
        try:
            return requests.get("{HOST}/v1/records?type=t", headers=headers, timeout=5).status_code
        except requests.ConnectionError as error:
            return "by responses" if "Responses" in str(error) else "network"
    def httpx_status():
        try:
            return httpx.get("{HOST}/v1/records?type=t", headers=headers, timeout=5).status_code
        except httpx.ConnectError:
            return "network"
    first, second = mock_runtype.mock(hosts=["{HOST}"]), mock_runtype.mock(hosts=["{HOST}"])
    first.start(); second.start(); first.stop()
    during = status(), httpx_status()
    second.stop()
    print(*during, status(), httpx_status())
""")


def test_mocks_stopped_out_of_order_leave_nothing_patched():
    out = subprocess.run([sys.executable, "-c", OVERLAP], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["200", "200", "network", "network"], out.stderr


def test_an_exception_inside_the_block_unpatches_both_clients():
    with pytest.raises(ValueError):
        with mock_runtype.mock(hosts=[HOST]):
            raise ValueError
    with pytest.raises(requests.ConnectionError, match="(?i)refused|errno") as raised:
        requests.get(f"{HOST}/v1/records", timeout=5)
    assert "Responses" not in str(raised.value)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{HOST}/v1/records", timeout=5)
