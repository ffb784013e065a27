"""What the official SDK sees when scenarios and strict auth answer (its ergonomic layer)."""

from __future__ import annotations

import pytest
from runtype import RuntypeClient
from runtype._exceptions import APIError, AuthenticationError, RateLimitError

from tests.http.test_admin_routes import FIXTURES, add_scenario, load


@pytest.fixture
def client(server, api_key):
    with RuntypeClient(api_key=api_key, base_url=server.url) as client:
        yield client


def test_the_sdk_reads_a_rate_limit_and_its_retry_after(server, api_key, client):
    # on the tenant's controlled clock: a second passing on the wall clock would make it 119
    server.admin("POST", "/clock", params={"tenant": api_key}, json={"set": "2030-01-01T00:00:00Z"})
    add_scenario(server, api_key, {"when": {"path": "/v1/records"}, "rateLimit": {"limit": 1, "windowSeconds": 120}})
    client.records.list()
    with pytest.raises(RateLimitError) as caught:
        client.records.list()
    assert caught.value.status_code == 429 and caught.value.retry_after == 120


def test_the_sdk_sees_a_scenario_status_with_its_message(server, api_key, client):
    add_scenario(server, api_key, {"when": {"method": "POST"}, "times": 1,
                                   "respond": {"status": 500, "body": {"error": "Internal Server Error"}}})
    with pytest.raises(APIError) as caught:
        client.records.create(type="customer", name="Acme")
    assert caught.value.status_code == 500 and str(caught.value).endswith("Internal Server Error")
    assert client.records.create(type="customer", name="Acme").name == "Acme"


def test_the_sdk_under_strict_auth(own_server):
    load(own_server, FIXTURES / "strict-auth.yaml")
    with RuntypeClient(api_key="rt_test_stranger", base_url=own_server.url) as stranger:
        with pytest.raises(AuthenticationError) as unknown:
            stranger.records.list()
    with RuntypeClient(api_key="rt_test_reader", base_url=own_server.url) as reader:
        assert [r.name for r in reader.records.list().data] == ["Acme Corp"]
        with pytest.raises(AuthenticationError) as read_only:
            reader.records.create(type="customer", name="Nope")
    assert (unknown.value.status_code, read_only.value.status_code) == (401, 403)
