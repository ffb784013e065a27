"""The sandbox's control operations on their own: loads, resets and runtime changes, all or nothing."""

from __future__ import annotations

import json
import threading

import yaml

from mock_runtype.model.errors import Conflict
from mock_runtype.sandbox.exchange import Exchange
from mock_runtype.sandbox.fixtures import parse_fixture
from mock_runtype.sandbox.core import Sandbox, SandboxSettings

SEEDED = "tenants: [{apiKey: k}]\nrecords:\n  - {tenant: k, type: t, name: seeded}\nscenarios:\n  - {name: slow, delayMs: 5}\n"


def test_a_scenario_added_while_a_fixture_loads_waits_and_cannot_half_break_the_load(monkeypatch):
    sandbox = Sandbox(SandboxSettings(seed=1))
    outcome: list[object] = []
    adder = threading.Thread(target=lambda: outcome.append(_add_or_error(sandbox, {"name": "slow", "delayMs": 1})))
    checked = Sandbox._check_against_live

    def check_then_let_the_adder_in(self, fixture):
        checked(self, fixture)  # the names are free here...
        adder.start()
        adder.join(timeout=0.2)  # ...and an add that got in now would make the load's own add fail midway

    monkeypatch.setattr(Sandbox, "_check_against_live", check_then_let_the_adder_in)
    assert sandbox.load(parse_fixture(SEEDED, "f.yaml"))["loaded"] is True
    adder.join()
    assert [r.name for r in sandbox.store.records_of(sandbox.tenancy.partition_of("k"))] == ["seeded"]
    assert [s["delayMs"] for s in sandbox.scenarios.specs(None)] == [5]
    assert isinstance(outcome[0], Conflict)


def test_forgetting_a_tenants_fixtures_forgets_how_they_declared_it():
    sandbox = Sandbox(SandboxSettings())
    sandbox.load(parse_fixture("tenants: [{apiKey: k, permissions: [read]}]\n", "reader.yaml", scope="k"))
    assert sandbox.tenancy.authenticate("Bearer k").permissions == {"read"}
    assert sandbox.forget_fixtures(sandbox.tenancy.partition_of("k")) == 1
    assert sandbox.tenancy.authenticate("Bearer k").permissions == {"read", "write", "delete"}


def test_a_tenants_reset_keeps_the_declaration_a_server_wide_fixture_makes():
    sandbox = Sandbox(SandboxSettings())
    sandbox.load(parse_fixture("settings: {strictAuth: true}\ntenants: [{apiKey: k, permissions: [read]}]\n", "strict.yaml"))
    sandbox.reset(sandbox.tenancy.partition_of("k"))
    assert sandbox.tenancy.authenticate("Bearer k").permissions == {"read"}


def test_a_record_given_only_an_earlier_updated_at_is_created_no_later_and_exports_loadably():
    sandbox = Sandbox(SandboxSettings(clock_start_ms=1_718_010_930_000))
    sandbox.load(parse_fixture("tenants: [{apiKey: k}]\nrecords:\n  - {tenant: k, type: t, name: n, updatedAt: '2020-01-01'}\n", "old.yaml"))
    [record] = sandbox.store.records_of(sandbox.tenancy.partition_of("k"))
    assert record.created_at == record.updated_at == 1_577_836_800_000
    state = sandbox.export_state()
    fresh = Sandbox()
    fresh.load(parse_fixture(yaml.safe_dump(state), "state.yaml"))
    assert fresh.export_state() == state


def test_an_exported_tenant_scenario_still_comes_before_the_server_wide_ones():
    sandbox = Sandbox(SandboxSettings())
    sandbox.add_scenario({"name": "everyone", "respond": {"status": 503}})
    sandbox.add_scenario({"name": "mine", "respond": {"status": 500}}, "k")
    fresh = Sandbox()
    fresh.load(parse_fixture(yaml.safe_dump(sandbox.export_state()), "state.yaml"))
    request = Exchange("GET", "/v1/records", {}, {}, b"", "k", 0)
    assert sandbox.scenarios.decide(request).respond == fresh.scenarios.decide(request).respond == {"status": 500}


def test_the_state_keeps_the_journal_limit_a_fixture_set():
    sandbox = Sandbox(SandboxSettings())
    sandbox.load(parse_fixture("settings: {journalLimit: 5}\n", "small-journal.yaml"))
    fresh = Sandbox()
    fresh.load(parse_fixture(yaml.safe_dump(sandbox.export_state()), "state.yaml"))
    assert fresh.journal.limit == 5


def test_a_documents_own_seed_fixes_its_ids_on_a_server_started_without_one():
    document = "settings: {seed: 42}\ntenants: [{apiKey: k}]\nrecords:\n  - {tenant: k, type: t, name: n, results: [{}]}\n"
    runs = []
    for _ in range(2):
        sandbox = Sandbox(SandboxSettings())
        sandbox.load(parse_fixture(document, "seeded.yaml"))
        runs.append(([r.id for r in sandbox.store.records_of(sandbox.tenancy.partition_of("k"))], sandbox.executions.export(sandbox.tenancy.partition_of("k"))["results"][0]["id"]))
    assert runs[0] == runs[1]


def _add_or_error(sandbox: Sandbox, spec: dict) -> object:
    try:
        return sandbox.add_scenario(spec)
    except Conflict as error:
        return error


def test_each_bulk_operation_is_one_bulk_load(monkeypatch, tmp_path):
    """The Sandbox's bulk operations start the bulk load (sandbox/heap.py) once, never nested."""
    from contextlib import contextmanager

    from mock_runtype.model.bulk import parse_bulk_edit
    from mock_runtype.sandbox import core, heap

    entered: list[int] = []

    @contextmanager
    def counted():
        entered.append(heap._loads.running)  # how many were running already: 0 unless nested
        with heap.bulk_load():
            yield

    monkeypatch.setattr(core, "bulk_load", counted)
    sandbox = Sandbox()
    (tmp_path / "start.yaml").write_text(SEEDED)
    operations = [
        lambda: sandbox.load_files([str(tmp_path / "start.yaml")]),
        lambda: sandbox.load_text("records: [{tenant: k, type: t, name: more}]\n", "more.yaml"),
        lambda: sandbox.load(parse_fixture("records: [{tenant: k, type: t, name: third}]\n", "third.yaml",
                                           known_tenants={"k"})),
        lambda: sandbox.upload_csv(sandbox.tenant("k"), b"name,type\nfrom-csv,t\n"),
        lambda: sandbox.bulk_edit("k", parse_bulk_edit({"applyToAll": True, "updates": {"x": 1}})),
        lambda: sandbox.reset("k"),
        lambda: sandbox.forget_fixtures(),
    ]
    for operation in operations:
        entered.clear()
        operation()
        assert entered == [0]


def _pages(client, **params) -> list[dict]:
    """Every page of a listing over HTTP, walked forward by nextCursor and back by prevCursor."""
    headers = {"Authorization": "Bearer rt_same_records"}
    pages = [client.get("/v1/records", query_string={"limit": 7, "includeCount": "true", **params}, headers=headers).get_json()]
    while pages[-1]["pagination"]["nextCursor"]:
        cursor = pages[-1]["pagination"]["nextCursor"]
        pages.append(client.get("/v1/records", query_string={"limit": 7, "cursor": cursor, **params}, headers=headers).get_json())
    cursor = pages[-1]["pagination"]["prevCursor"]
    back = client.get("/v1/records", query_string={"limit": 7, "cursor": cursor, "direction": "prev", **params}, headers=headers)
    return [*pages, back.get_json()]


def test_a_fixtures_records_list_and_page_as_the_same_records_created_over_the_api():
    from mock_runtype.http.app import create_app

    settings = SandboxSettings(seed=5, clock_start_ms=1_718_010_930_000)  # a frozen clock: every createdAt ties
    over_the_api = Sandbox(settings)
    over_the_api.load(parse_fixture("tenants: [{apiKey: rt_same_records}]\n", "tenant.yaml"))  # as the state declares it
    client = create_app(over_the_api).test_client()
    headers = {"Authorization": "Bearer rt_same_records"}
    for n in range(60):  # (type, name) unique, names tied across types
        body = {"type": f"t{n % 3}", "name": f"n{n % 20}", "metadata": {"n": n}}
        assert client.post("/v1/records", json=body, headers=headers).status_code == 201
    listed = client.get("/v1/records", query_string={"limit": 100, "type": "t1"}, headers=headers).get_json()["data"]
    for record in listed[::4]:  # updatedAt moves a millisecond: ties and a different order
        assert client.put(f"/v1/records/{record['id']}", json={"metadata": {"updated": True}}, headers=headers).status_code == 200
    state = over_the_api.export_state()
    loaded = Sandbox(SandboxSettings(seed=5))
    loaded.load(parse_fixture(json.dumps(state), "state.json"))
    from_the_fixture = create_app(loaded).test_client()
    for sort_by in ("createdAt", "updatedAt", "name"):
        for order in ("asc", "desc"):
            for params in ({}, {"type": "t1"}):
                query = {"sort_by": sort_by, "sort_order": order, **params}
                pages = _pages(client, **query)
                assert len(pages) > 2 and pages[0]["pagination"]["nextCursor"]
                assert _pages(from_the_fixture, **query) == pages
