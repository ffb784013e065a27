"""The control API and scenarios over HTTP: what a test sets up, and what it can check afterwards."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from mock_runtype.sandbox.core import SandboxSettings
from tests.conftest import RunningServer, url
from tests.waiting import wait_until

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def add_scenario(server, api_key, spec) -> None:
    answer = server.admin("POST", "/scenarios", params={"tenant": api_key}, json=spec)
    assert answer.status_code == 201, answer.text


# -- scenario kinds, each scoped to the test's own tenant on the shared server ---------------


def test_status_scenario_answers_instead_of_the_api_then_stops(server, http, api_key):
    add_scenario(server, api_key, {"name": "flaky", "when": {"method": "POST", "path": "/v1/records"},
                                   "times": 1, "respond": {"status": 503, "body": {"error": "down"}, "headers": {"X-Why": "test"}}})
    first = http.post(url(http, "/v1/records"), json={"type": "t", "name": "n"})
    assert (first.status_code, first.json(), first.headers["X-Why"]) == (503, {"error": "down"}, "test")
    assert http.post(url(http, "/v1/records"), json={"type": "t", "name": "n"}).status_code == 201
    [scenario] = server.admin("GET", "/scenarios", params={"tenant": api_key}).json()["scenarios"][:1]
    assert (scenario["name"], scenario["matched"], scenario["fired"], scenario["scopedTo"]) == ("flaky", 2, 1, api_key)


# Long enough that the quick request below is surely answered within it, even on a busy machine
# where a loopback request can take a good fraction of a second; short enough not to slow the suite.
DELAY_MS = 2000


def matched(server, api_key, name: str) -> int:
    [scenario] = [s for s in server.admin("GET", "/scenarios", params={"tenant": api_key}).json()["scenarios"]
                  if s["name"] == name]
    return scenario["matched"]


def test_delay_holds_the_request_then_it_goes_on_without_blocking_others(server, http, api_key):
    add_scenario(server, api_key, {"name": "slow", "when": {"method": "GET", "path": "/v1/records"}, "delayMs": DELAY_MS})
    slow = {}

    def slow_call() -> None:
        slow["answer"] = http.get(url(http, "/v1/records"))
        slow["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=slow_call)
    started = time.monotonic()
    thread.start()
    # The slow request matched its scenario: it is in its delay (not a fixed sleep hoping it is).
    wait_until(lambda: matched(server, api_key, "slow") == 1, message="the slow request never reached its delay")
    quick = requests.get(url(http, "/v1/records"), headers={"Authorization": "Bearer other-tenant"}, timeout=10)
    answered_while_held = thread.is_alive()  # ordering, not a time bound: the quick one did not wait
    thread.join(timeout=30)
    assert quick.status_code == 200 and answered_while_held, "the quick request waited for the delayed one"
    assert slow["answer"].status_code == 200 and slow["seconds"] >= DELAY_MS / 1000  # a sleep never ends early


def test_rate_limit_answers_429_with_retry_after(server, http, api_key):
    # The tenant's controlled clock, so the window does not move while the requests are made: on
    # the wall clock a second passing between the first and the third (a busy machine) would make
    # Retry-After 29.
    server.admin("POST", "/clock", params={"tenant": api_key}, json={"set": "2030-01-01T00:00:00Z"})
    add_scenario(server, api_key, {"name": "throttle", "when": {"path": "/v1/records"}, "rateLimit": {"limit": 2, "windowSeconds": 30}})
    answers = [http.get(url(http, "/v1/records")) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[1].headers["RateLimit-Remaining"] == "0"
    assert answers[2].headers["Retry-After"] == "30" and "Rate limit exceeded" in answers[2].json()["error"]
    server.admin("POST", "/clock", params={"tenant": api_key}, json={"advance": "29s"})
    assert http.get(url(http, "/v1/records")).headers["Retry-After"] == "1"
    server.admin("POST", "/clock", params={"tenant": api_key}, json={"advance": "1s"})
    assert http.get(url(http, "/v1/records")).status_code == 200  # the window moved on, without sleeping


def test_connection_reset_fault(server, http, api_key):
    add_scenario(server, api_key, {"when": {"path": "/v1/records/*/costs"}, "fault": "connection_reset"})
    with pytest.raises(requests.exceptions.ConnectionError, match="reset"):
        http.get(url(http, "/v1/records/abc/costs"))
    assert http.get(url(http, "/v1/records")).status_code == 200


def test_empty_response_fault(server, http, api_key):
    add_scenario(server, api_key, {"when": {"method": "GET"}, "every": 2, "fault": "empty_response"})
    assert http.get(url(http, "/v1/records")).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError, match="without response"):
        http.get(url(http, "/v1/records"))
    dropped = server.admin("GET", "/requests", params={"tenant": api_key}).json()["requests"][-1]
    assert (dropped["status"], dropped["fault"]) == (None, "empty_response")


def test_malformed_json_fault(server, http, api_key):
    add_scenario(server, api_key, {"when": {"method": "GET"}, "fault": "malformed_json"})
    answer = http.get(url(http, "/v1/records"))
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        answer.json()


# -- the journal ----------------------------------------------------------------------------


def test_the_journal_shows_what_was_sent_less_the_secret(server, http, api_key):
    http.post(url(http, "/v1/records?x=1"), json={"type": "t", "name": "n"})
    http.get(url(http, "/v1/records/missing"))
    entries = server.admin("GET", "/requests", params={"tenant": api_key}).json()["requests"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [("POST", "/v1/records", 201), ("GET", "/v1/records/missing", 404)]
    assert entries[0]["query"] == {"x": "1"} and entries[0]["body"] == {"type": "t", "name": "n"}
    assert api_key not in str(entries) and entries[0]["headers"]["authorization"].startswith("Bearer fp:")
    posts = server.admin("GET", "/requests", params={"tenant": api_key, "method": "post"}).json()
    assert posts["count"] == 1
    assert server.admin("DELETE", "/requests", params={"tenant": api_key}).json() == {"deleted": 2}
    assert server.admin("GET", "/requests", params={"tenant": api_key}).json()["requests"] == []


def test_admin_paths_are_never_journaled_and_unknown_parameters_are_refused(own_server):
    own_server.admin("GET", "/state")
    assert own_server.admin("GET", "/requests").json()["requests"] == []
    answer = own_server.admin("GET", "/requests", params={"tenat": "x"})
    assert answer.status_code == 400 and answer.json()["details"][0]["path"] == "tenat"


def test_the_journal_is_bounded_per_tenant():
    """Per tenant in use: each holds a record (keys that keep nothing share one bucket)."""
    running = RunningServer(SandboxSettings(journal_limit=3))
    try:
        for key in ("a", "b"):
            requests.post(f"{running.url}/v1/records", json={"type": "t", "name": "n"}, headers={"Authorization": f"Bearer {key}"})
        for _ in range(4):
            requests.get(f"{running.url}/v1/records", headers={"Authorization": "Bearer a"})
        assert len(running.admin("GET", "/requests", params={"tenant": "a"}).json()["requests"]) == 3
        assert len(running.admin("GET", "/requests", params={"tenant": "b"}).json()["requests"]) == 1
    finally:
        running.close()


# -- fixtures: seeding, strict auth, reset, round trip --------------------------------------


def load(server, path: Path | str, **params) -> requests.Response:
    body = Path(path).read_bytes() if isinstance(path, Path) else path.encode()
    return server.admin("POST", "/fixtures", params=params, data=body, headers={"Content-Type": "application/yaml"})


def test_seeded_records_and_results_are_served(own_server):
    assert load(own_server, FIXTURES / "demo.yaml").status_code == 201
    demo = {"Authorization": "Bearer rt_test_demo"}
    page = requests.get(f"{own_server.url}/v1/records?type=customer", headers=demo).json()
    assert [r["name"] for r in page["data"]] == ["Globex", "Acme Corp"]
    acme = page["data"][1]
    assert (acme["organizationId"], acme["userId"], acme["ownerId"], acme["createdAt"]) == (
        "org_demo", "user_alice", "alice", "2024-06-01T08:00:00.000Z")
    costs = requests.get(f"{own_server.url}/v1/records/{acme['id']}/costs", headers=demo).json()
    assert costs["executionCount"] == 2 and costs["totalTokens"] == 1130
    again = requests.post(f"{own_server.url}/v1/records", json={"type": "customer", "name": "Acme Corp"}, headers=demo)
    assert again.status_code == 409 and again.json()["existingId"] == acme["id"]
    assert load(own_server, FIXTURES / "demo.yaml").json()["alreadyLoaded"] is True


def test_strict_auth_refuses_unknown_keys_and_read_only_writes(own_server):
    load(own_server, FIXTURES / "strict-auth.yaml")
    base = f"{own_server.url}/v1/records"
    assert requests.get(base, headers={"Authorization": "Bearer rt_test_stranger"}).status_code == 401
    reader = {"Authorization": "Bearer rt_test_reader"}
    assert requests.get(base, headers=reader).json()["data"][0]["name"] == "Acme Corp"
    refused = requests.post(base, json={"type": "t", "name": "n"}, headers=reader)
    assert refused.status_code == 403 and "write" in refused.json()["error"]
    assert requests.post(base, json={"type": "t", "name": "n"}, headers={"Authorization": "Bearer rt_test_writer"}).status_code == 201


def test_reset_goes_back_to_the_fixture_state(own_server):
    load(own_server, FIXTURES / "demo.yaml")
    demo = {"Authorization": "Bearer rt_test_demo"}
    before = own_server.admin("GET", "/state").json()
    requests.post(f"{own_server.url}/v1/records", json={"type": "t", "name": "new"}, headers=demo)
    own_server.admin("POST", "/scenarios", json={"name": "extra", "delayMs": 1})
    assert own_server.admin("POST", "/reset").json() == {"reset": "server"}
    assert own_server.admin("GET", "/state").json() == before
    assert own_server.admin("GET", "/requests").json()["requests"] == []


def test_state_loads_back_to_the_same_state(own_server):
    load(own_server, FIXTURES / "demo.yaml")
    load(own_server, FIXTURES / "faults.yaml")
    headers = {"Authorization": "Bearer someone"}
    requests.post(f"{own_server.url}/v1/records", json={"type": "note", "name": "n", "ownerId": None,
                                                        "metadata": {"ownerId": "x"}}, headers=headers)
    state = own_server.admin("GET", "/state").json()
    fresh = RunningServer(SandboxSettings())
    try:
        assert load(fresh, yaml.safe_dump(state)).status_code == 201
        assert fresh.admin("GET", "/state").json() == state
    finally:
        fresh.close()


# -- determinism ----------------------------------------------------------------------------


def test_two_servers_with_the_same_seed_and_clock_answer_byte_for_byte_alike():
    settings = dict(seed=7, clock_start_ms=1_718_010_930_000)
    servers = [RunningServer(SandboxSettings(**settings)), RunningServer(SandboxSettings(**settings))]
    try:
        answers = []
        for running in servers:
            load(running, FIXTURES / "demo.yaml")
            session = requests.Session()
            session.headers["Authorization"] = "Bearer rt_test_demo"
            calls = [session.post(f"{running.url}/v1/records", json={"type": "t", "name": f"n{i}"}) for i in range(3)]
            created = calls[0].json()["id"]
            calls += [session.patch(f"{running.url}/v1/records/{created}", json={"metadata": {"a": 1}}),
                      session.get(f"{running.url}/v1/records?includeCount=true&limit=2"),
                      session.get(f"{running.url}/v1/records/{created}")]
            answers.append([(c.status_code, c.content) for c in calls])
        assert answers[0] == answers[1]
    finally:
        for running in servers:
            running.close()


# -- per-tenant control ---------------------------------------------------------------------


def test_scoped_operations_leave_another_tenant_under_load_untouched(server):
    mine, theirs = f"rt_test_{uuid.uuid4().hex}", f"rt_test_{uuid.uuid4().hex}"
    scoped = "records:\n  - {type: customer, name: Seeded}\n"
    assert load(server, scoped, tenant=mine).status_code == 201
    stop = threading.Event()
    statuses = []

    def their_load() -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {theirs}"
            number = 0
            while not stop.is_set():
                statuses.append(session.post(f"{server.url}/v1/records", json={"type": "t", "name": f"n{number}"}).status_code)
                number += 1

    thread = threading.Thread(target=their_load)
    thread.start()
    try:
        me = {"Authorization": f"Bearer {mine}"}
        for round_ in range(5):
            requests.post(f"{server.url}/v1/records", json={"type": "t", "name": f"mine{round_}"}, headers=me)
            add_scenario(server, mine, {"name": "mine-only", "respond": {"status": 500}})
            assert requests.get(f"{server.url}/v1/records", headers=me).status_code == 500
            assert server.admin("POST", "/reset", params={"tenant": mine}).json() == {"reset": "tenant"}
            assert [r["name"] for r in server.admin("GET", "/state", params={"tenant": mine}).json()["records"]] == ["Seeded"]
            assert server.admin("GET", "/requests", params={"tenant": mine}).json()["requests"] == []
    finally:
        stop.set()
        thread.join()
    their_state = server.admin("GET", "/state", params={"tenant": theirs}).json()
    their_journal = server.admin("GET", "/requests", params={"tenant": theirs}).json()["requests"]
    assert set(statuses) == {201}
    assert len(their_state["records"]) == len(statuses) == len(their_journal)
    assert their_state["scenarios"] == []


def test_a_tenants_clock_is_its_own(server, http, api_key):
    moved = server.admin("POST", "/clock", params={"tenant": api_key}, json={"set": "2030-01-01T00:00:00Z"})
    assert moved.json() == {"now": "2030-01-01T00:00:00.000Z", "controlled": True}
    server.admin("POST", "/clock", params={"tenant": api_key}, json={"advance": "90s"})
    created = http.post(url(http, "/v1/records"), json={"type": "t", "name": "n"}).json()
    assert created["createdAt"] == "2030-01-01T00:01:30.000Z"
    other = requests.post(url(http, "/v1/records"), json={"type": "t", "name": "n"}, headers={"Authorization": "Bearer x" + api_key})
    assert not other.json()["createdAt"].startswith("2030")


def test_the_admin_token_guards_the_control_api():
    running = RunningServer(SandboxSettings(admin_token="s3cret"))
    try:
        assert running.admin("GET", "/state").status_code == 401
        assert running.admin("GET", "/state", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert running.admin("GET", "/state", headers={"X-Admin-Token": "s3cret"}).status_code == 200
    finally:
        running.close()


def test_a_bad_document_posted_is_a_400_naming_line_and_path(own_server):
    answer = load(own_server, "tenants:\n  - apiKey: a\n    colour: red\n")
    assert answer.status_code == 400
    assert answer.json()["details"] == [{"path": "tenants[0].colour", "line": 3, "message": "unknown field: colour"}]
    assert own_server.admin("GET", "/state").json()["tenants"] == []


def test_scenario_names_stay_unique_across_documents_and_resets(own_server):
    assert load(own_server, "scenarios: [{delayMs: 1}]\n").status_code == 201
    assert load(own_server, "scenarios: [{delayMs: 2}]\n").status_code == 201
    names = [s["name"] for s in own_server.admin("GET", "/scenarios").json()["scenarios"]]
    assert names == ["scenario-1", "scenario-2"]
    own_server.admin("DELETE", "/scenarios/scenario-1")
    clash = load(own_server, "scenarios: [{name: scenario-1, delayMs: 3}]\n")
    assert clash.status_code == 409 and "already exists" in clash.json()["details"][0]["message"]
    assert own_server.admin("POST", "/reset").status_code == 200
    assert [s["name"] for s in own_server.admin("GET", "/scenarios").json()["scenarios"]] == names


def test_a_tenants_state_loads_back_after_its_reset(server, http, api_key):
    http.post(url(http, "/v1/records"), json={"type": "t", "name": "kept", "metadata": {"n": 1}})
    add_scenario(server, api_key, {"name": "slow", "delayMs": 1})
    state = server.admin("GET", "/state", params={"tenant": api_key}).json()
    server.admin("POST", "/reset", params={"tenant": api_key})
    assert server.admin("GET", "/state", params={"tenant": api_key}).json()["records"] == []
    assert load(server, yaml.safe_dump(state), tenant=api_key).status_code == 201
    assert server.admin("GET", "/state", params={"tenant": api_key}).json() == state


def test_forgetting_a_tenants_fixtures_empties_it_and_keeps_the_others(server, api_key):
    other = f"rt_test_{uuid.uuid4().hex}"
    load(server, "records: [{type: t, name: mine}]\n", tenant=api_key)
    load(server, "records: [{type: t, name: theirs}]\n", tenant=other)
    assert server.admin("DELETE", "/fixtures", params={"tenant": api_key}).json() == {"deleted": 1}
    assert server.admin("GET", "/state", params={"tenant": api_key}).json()["records"] == []
    server.admin("POST", "/reset", params={"tenant": api_key})
    assert server.admin("GET", "/state", params={"tenant": api_key}).json()["records"] == []
    assert [r["name"] for r in server.admin("GET", "/state", params={"tenant": other}).json()["records"]] == ["theirs"]


def test_a_fixture_problem_is_a_400_naming_its_line_on_a_server_checking_its_answers(server, api_key):
    """The shared server checks every answer against the document: a problem's `line` is part of it."""
    answer = server.admin("POST", f"/fixtures?tenant={api_key}", data="records:\n  - {type: t}\n",
                          headers={"Content-Type": "application/yaml"})
    assert answer.status_code == 400, answer.text
    problem = answer.json()["details"][0]
    assert problem["line"] == 2 and "name" in problem["message"]


def test_a_fixture_holding_nul_or_a_lone_surrogate_is_a_400(server, api_key):
    """A lone surrogate in a record's metadata failed its sizing (a 500); NUL in its name was stored."""
    for record in ('{"type": "t", "name": "n", "metadata": {"x": "\\ud800"}}', '{"type": "t", "name": "n\\u0000"}'):
        answer = server.admin("POST", f"/fixtures?tenant={api_key}", data=f'{{"records": [{record}]}}',
                              headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["details"][0]["message"] == "contains \\u0000 or an unpaired surrogate"
    assert server.admin("GET", "/state", params={"tenant": api_key}).json()["records"] == []
