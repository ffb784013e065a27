"""The in-process mode (`mock_runtype.mock()`): unchanged SDK code, no server, no socket."""

from __future__ import annotations

import asyncio
import re
import socket
import time

import httpx
import pytest
import requests
from runtype import AsyncRuntypeClient, NotFoundError, RuntypeClient

import mock_runtype
from mock_runtype.contract.operations import OPERATIONS
from mock_runtype.testing import Control, LocalServer
from mock_runtype.testing.helpers import AdminError
from mock_runtype.testing.inprocess import InProcessMock

pytest_plugins = ["pytester"]
KEY = "sk_test_inproc"
SEED = {
    "tenants": [{"apiKey": KEY}],
    "records": [{
        "tenant": KEY, "type": "customer", "name": "Acme", "metadata": {"tier": "gold"},
        "results": [{"id": "res-1", "flowName": "enrich", "status": "completed", "modelUsed": "gpt-4o",
                     "modelCost": "0.01", "totalTokens": 10},
                    {"id": "res-2", "flowName": "enrich", "status": "completed", "modelUsed": "gpt-4o",
                     "modelCost": "0.02", "totalTokens": 20}],
        "stepResults": [{"stepName": "s1", "stepType": "prompt", "order": 1}],
    }],
}
API_OPERATIONS = [op for op in OPERATIONS if op.path.startswith("/v1/")]


@pytest.fixture
def no_sockets(monkeypatch):
    """Any connect is refused: what follows must not touch the network, loopback included."""
    def refuse(self, *args):
        raise AssertionError(f"a socket was connected to {args}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def operations_of(journal: list[dict]) -> set[str]:
    """The operation ids of the journal's requests."""
    patterns = [(op, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", op.path) + "$")) for op in API_OPERATIONS]
    return {op.operation_id for entry in journal for op, pattern in patterns
            if op.method.upper() == entry["method"] and pattern.match(entry["path"])}


def acme_id(client: RuntypeClient) -> str:
    return client.records.list_by_type("customer").data[0].id


def drive_sync(client: RuntypeClient) -> None:
    records, api = client.records, client.api.records
    record = records.create(type="lead", name="Globex", metadata={"score": 1})  # createRecord
    assert records.get(record.id).name == "Globex"  # getRecord
    assert records.update(record.id, metadata={"score": 2}).metadata == {"score": 2}  # patchRecord
    assert {r.name for r in records.list().data} == {"Acme", "Globex"}  # listRecords
    assert [r.name for r in records.list_by_type("lead").data] == ["Globex"]
    assert api.update_record(record.id, name="Globex 2").name == "Globex 2"  # updateRecord (PUT)
    assert api.get_record_details(record.id).name == "Globex 2"
    assert api.list_records(type="lead").data[0].name == "Globex 2"
    assert api.create_record(type="lead", name="Initech").name == "Initech"
    assert "Globex 2" in api.export_records_as_csv(type="lead")  # exportRecords
    assert api.get_field_values(type="customer", field="tier").values[0].value == "gold"  # getFieldValues
    assert api.preview_record_filter(type="lead").matched_count == 2  # previewFilter
    assert api.discover_record_schema(type="customer").fields  # discoverSchema
    assert api.upload_csv_records(file="name,type\nHooli,lead\n").created == 1  # uploadCsv
    edited = api.bulk_edit_records(record_ids=[record.id], updates={"score": 3})  # bulkEditRecords
    assert edited is not None
    acme = acme_id(client)
    assert api.get_record_costs(acme).execution_count == 2  # getRecordCosts
    assert [r.id for r in api.get_record_results(acme).data] == ["res-2", "res-1"]  # getRecordResults
    api.delete_record_result(acme, result_id="res-1")  # deleteRecordResult
    assert [s.step_name for s in api.get_record_step_results(acme).data] == ["s1"]  # getRecordStepResults
    hooli = api.list_records(type="lead", search="Hooli").data[0].id
    assert api.bulk_delete_records(ids=[hooli]) is not None  # bulkDeleteRecords
    api.delete_record(record.id)  # deleteRecord
    assert records.delete(api.list_records(type="lead").data[0].id)["success"] is True
    with pytest.raises(NotFoundError):
        records.get(record.id)


async def drive_async(client: AsyncRuntypeClient) -> None:
    records, api = client.records, client.api.records
    record = await records.create(type="lead", name="Globex", metadata={"score": 1})
    assert (await records.get(record.id)).name == "Globex"
    assert (await records.update(record.id, metadata={"score": 2})).metadata == {"score": 2}
    assert {r.name for r in (await records.list()).data} == {"Acme", "Globex"}
    assert (await api.update_record(record.id, name="Globex 2")).name == "Globex 2"
    assert (await api.get_record_details(record.id)).name == "Globex 2"
    assert "Globex 2" in await api.export_records_as_csv(type="lead")
    assert (await api.get_field_values(type="customer", field="tier")).values[0].value == "gold"
    assert (await api.preview_record_filter(type="lead")).matched_count == 1
    assert (await api.discover_record_schema(type="customer")).fields
    assert (await api.upload_csv_records(file="name,type\nHooli,lead\n")).created == 1
    await api.bulk_edit_records(record_ids=[record.id], updates={"score": 3})
    acme = (await api.list_records(type="customer")).data[0].id
    assert (await api.get_record_costs(acme)).execution_count == 2
    assert len((await api.get_record_results(acme)).data) == 2
    await api.delete_record_result(acme, result_id="res-1")
    assert len((await api.get_record_step_results(acme)).data) == 1
    hooli = (await api.list_records(type="lead", search="Hooli")).data[0].id
    await api.bulk_delete_records(ids=[hooli])
    await api.delete_record(record.id)
    with pytest.raises(NotFoundError):
        await records.get(record.id)


def test_the_sdk_with_no_base_url_drives_every_endpoint_without_a_socket(no_sockets):
    with mock_runtype.mock(SEED) as sandbox:
        with RuntypeClient(api_key=KEY) as client:
            drive_sync(client)
        assert operations_of(sandbox.requests()) == {op.operation_id for op in API_OPERATIONS}
        assert sandbox.unexpected_violations() == []


def test_the_async_sdk_drives_every_endpoint_without_a_socket(no_sockets):
    async def main():
        async with mock_runtype.mock(SEED) as sandbox, AsyncRuntypeClient(api_key=KEY) as client:
            await drive_async(client)
            return sandbox.requests()
    journal = asyncio.run(main())
    assert operations_of(journal) == {op.operation_id for op in API_OPERATIONS}


def test_plain_httpx_and_requests_are_answered_too(no_sockets):
    with mock_runtype.mock() as sandbox:
        created = requests.post("https://api.runtype.com/v1/records", headers={"Authorization": "Bearer k"},
                                json={"type": "customer", "name": "Acme"})
        assert created.status_code == 201
        listed = httpx.get("https://api.runtype.com/v1/records", headers={"Authorization": "Bearer k"})
        assert [r["name"] for r in listed.json()["data"]] == ["Acme"]
        assert requests.get("https://api.runtype.com/health").json()["status"] == "ok"
        assert [(e["method"], e["status"]) for e in sandbox.tenant("k").requests()] == [("POST", 201), ("GET", 200)]


def test_each_mock_starts_from_an_empty_sandbox_plus_its_fixtures(no_sockets):
    seeded = mock_runtype.mock(SEED)
    for _ in range(2):
        with seeded, RuntypeClient(api_key=KEY) as client:
            assert [r.name for r in client.records.list().data] == ["Acme"]
            client.records.create(type="customer", name="Globex")
    with mock_runtype.mock(), RuntypeClient(api_key=KEY) as client:
        assert client.records.list().data == []


def test_decorator_sync_and_async_with_or_without_parentheses(no_sockets):
    @mock_runtype.mock
    def bare():
        with RuntypeClient(api_key="k") as client:
            return client.records.create(type="t", name="n").name

    @mock_runtype.mock(SEED)
    async def seeded():
        async with AsyncRuntypeClient(api_key=KEY) as client:
            return [r.name for r in (await client.records.list()).data]

    assert bare() == "n" and bare() == "n"  # a fresh sandbox each call: no 409
    assert asyncio.run(seeded()) == ["Acme"]


def test_several_hosts_and_a_path_prefix(no_sockets):
    with mock_runtype.mock(hosts=["https://api.runtype.com", "http://runtype.internal:8080/proxy/"]):
        answer = requests.get("http://runtype.internal:8080/proxy/v1/records", headers={"Authorization": "Bearer k"})
        assert answer.status_code == 200 and answer.json()["data"] == []
        with RuntypeClient(api_key="k", base_url="http://runtype.internal:8080/proxy") as client:
            assert client.records.create(type="t", name="n").name == "n"
        with RuntypeClient(api_key="k") as client:
            assert [r.name for r in client.records.list().data] == ["n"]  # one sandbox behind both hosts


def test_other_hosts_pass_through_or_are_refused():
    auth = {"Authorization": "Bearer k"}
    with LocalServer() as server, mock_runtype.mock() as sandbox:
        assert httpx.post(server.url + "/v1/records", headers=auth, json={"type": "t", "name": "a"}).status_code == 201
        assert requests.post(server.url + "/v1/records", headers=auth, json={"type": "t", "name": "b"}).status_code == 201
        assert len(Control(server.url).tenant("k").requests()) == 2 and sandbox.requests() == []
    with LocalServer() as server, mock_runtype.mock(refuse_other_hosts=True):
        with pytest.raises(AssertionError, match="not mocked"):
            httpx.get(server.url + "/health")
        with pytest.raises(requests.ConnectionError, match="Connection refused by Responses"):
            requests.get(server.url + "/health")


def test_connection_faults_raise_what_a_real_server_makes_the_clients_raise(no_sockets):
    with mock_runtype.mock() as sandbox:
        sandbox.add_scenario({"name": "reset", "when": {"path": "/v1/records"}, "fault": "connection_reset"})
        with pytest.raises(httpx.ReadError, match="Connection reset by peer"):
            httpx.get("https://api.runtype.com/v1/records", headers={"Authorization": "Bearer k"})
        with pytest.raises(requests.ConnectionError, match="Connection reset by peer"):
            requests.get("https://api.runtype.com/v1/records", headers={"Authorization": "Bearer k"})
        sandbox.remove_scenario("reset")
        sandbox.add_scenario({"name": "empty", "when": {"path": "/v1/records"}, "fault": "empty_response"})
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            httpx.get("https://api.runtype.com/v1/records", headers={"Authorization": "Bearer k"})
        with pytest.raises(requests.ConnectionError, match="without response"):
            requests.get("https://api.runtype.com/v1/records", headers={"Authorization": "Bearer k"})

        async def fault():
            async with httpx.AsyncClient() as client:
                await client.get("https://api.runtype.com/v1/records", headers={"Authorization": "Bearer k"})
        with pytest.raises(httpx.RemoteProtocolError):
            asyncio.run(fault())
        assert {e["fault"] for e in sandbox.requests()} == {"connection_reset", "empty_response"}


def test_an_async_delay_is_awaited_not_slept(no_sockets):
    """While one request waits out a 2 s delay, another task's requests are answered."""
    async def main():
        async with mock_runtype.mock() as sandbox, httpx.AsyncClient(base_url="https://api.runtype.com") as client:
            sandbox.add_scenario({"name": "slow", "when": {"path": "/v1/records"}, "delayMs": 2000})
            slow = asyncio.create_task(client.get("/v1/records", headers={"Authorization": "Bearer k"}))
            await asyncio.sleep(0)
            quick = [await client.get("/health") for _ in range(3)]
            assert not slow.done()  # three in-process calls take far less than the 2 s delay
            slow.cancel()
            return [r.status_code for r in quick]
    assert asyncio.run(main()) == [200, 200, 200]


def test_a_sync_delay_sleeps_the_caller(no_sockets):
    with mock_runtype.mock() as sandbox:
        sandbox.add_scenario({"name": "slow", "when": {"path": "/health"}, "delayMs": 200})
        started = time.monotonic()
        requests.get("https://api.runtype.com/health")
        assert time.monotonic() - started >= 0.2  # a lower bound: the delay cannot be shorter


def test_the_handle_drives_the_clock_the_state_and_the_journal(no_sockets):
    with mock_runtype.mock(SEED) as sandbox, RuntypeClient(api_key=KEY) as client:
        acme = sandbox.tenant(KEY)
        acme.set_clock("2024-06-10T09:15:30Z")
        record = client.records.create(type="customer", name="Globex")
        assert record.created_at.startswith("2024-06-10T09:15:30") if isinstance(record.created_at, str) \
            else record.created_at.year == 2024
        assert {r["name"] for r in acme.state()["records"]} == {"Acme", "Globex"}
        assert [e["status"] for e in acme.requests(method="POST")] == [201]
        acme.reset()
        assert [r.name for r in client.records.list().data] == ["Acme"]
        with sandbox.expect_errors():
            with pytest.raises(Exception):
                client.api.records.create_record(type="", name="x")
        assert sandbox.unexpected_violations() == []
        requests.post("https://api.runtype.com/v1/records", headers={"Authorization": f"Bearer {KEY}"}, json={})
        [violation] = sandbox.unexpected_violations()
        assert violation.status == 400
        with pytest.raises(AssertionError, match="contract violations"):
            sandbox.assert_no_violations()


def test_a_bad_fixture_or_host_is_a_clear_error():
    with pytest.raises(AdminError, match="answered 400"):
        mock_runtype.mock({"records": [{"name": "no type"}]}).start()
    with pytest.raises(ValueError, match="base URL"):
        mock_runtype.mock(hosts=["ftp://api.runtype.com"])
    handle = mock_runtype.mock()
    with handle, pytest.raises(RuntimeError, match="active already"):
        handle.start()
    assert isinstance(handle, InProcessMock)


def test_the_pytest_fixture_loads_markers_and_checks_the_contract(pytester):
    pytester.makefile(".yaml", acme=f"tenants:\n  - apiKey: {KEY}\nrecords:\n  - {{tenant: {KEY}, type: customer, name: Acme}}\n")
    pytester.makepyfile(f"""
        import pytest, requests
        from runtype import RuntypeClient

        @pytest.mark.runtype_fixtures("acme.yaml")
        def test_seeded(runtype_inprocess):
            with RuntypeClient(api_key="{KEY}") as client:
                assert [r.name for r in client.records.list().data] == ["Acme"]
            assert len(runtype_inprocess.requests()) == 1

        def test_empty(runtype_inprocess):
            with RuntypeClient(api_key="{KEY}") as client:
                assert client.records.list().data == []

        def test_a_violation(runtype_inprocess):
            requests.post("https://api.runtype.com/v1/records", headers={{"Authorization": "Bearer k"}}, json={{}})
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*runtype_inprocess.expect_errors()*", "*POST /v1/records -> 400 (validation)*"])
