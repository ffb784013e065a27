"""Tenants sharing one sandbox: nothing one of them sees tells it what another did, and nothing
one of them sends pushes out, uses up or locks out what another keeps (issue 14, items 3, 6, 7)."""

from __future__ import annotations

import json

import requests

from mock_runtype.sandbox.core import SandboxSettings
from tests.conftest import RunningServer

A, B = "rt_test_neighbour_a", "rt_test_neighbour_b"


def call(server: RunningServer, key: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{server.url}{path}", headers={"Authorization": f"Bearer {key}"}, **kwargs)


def create(server: RunningServer, key: str, name: str) -> requests.Response:
    answer = call(server, key, "POST", "/v1/records", json={"type": "t", "name": name})
    assert answer.status_code == 201, answer.text
    return answer


# -- item 6: cursors ------------------------------------------------------------------------


def a_cursors_around_b(b_creates: int) -> list[str]:
    """A's cursors, listing before and after B creates `b_creates` records (A creates one between)."""
    with RunningServer(SandboxSettings(seed=3, clock_start_ms=1_718_010_930_000)) as server:
        cursors = []
        create(server, A, "a1")
        create(server, A, "a2")
        cursors.append(call(server, A, "GET", "/v1/records", params={"limit": 1}).json()["pagination"]["nextCursor"])
        for number in range(b_creates):
            create(server, B, f"b{number}")
        create(server, A, "a3")
        cursors.append(call(server, A, "GET", "/v1/records", params={"limit": 1}).json()["pagination"]["nextCursor"])
        return cursors


def test_a_tenants_cursors_are_the_same_whatever_another_tenant_did():
    """Old: a cursor held the store-wide insertion counter, so A's second cursor counted B's creates."""
    assert a_cursors_around_b(0) == a_cursors_around_b(5)


def test_a_cursor_of_another_server_is_a_400():
    """Old: the signing key was a constant of the source, so any server took any server's cursor."""
    with RunningServer() as first, RunningServer() as second:
        for server in (first, second):
            create(server, A, "a1")
            create(server, A, "a2")
        cursor = call(first, A, "GET", "/v1/records", params={"limit": 1}).json()["pagination"]["nextCursor"]
        assert call(first, A, "GET", "/v1/records", params={"limit": 1, "cursor": cursor}).status_code == 200
        foreign = call(second, A, "GET", "/v1/records", params={"limit": 1, "cursor": cursor})
        assert foreign.status_code == 400
        assert foreign.json()["details"] == [{"path": "cursor", "message": "not a cursor this server issued"}]


def test_seeded_servers_take_each_others_cursors():
    """Derived from the seed, the key is the same on both: a deterministic run stays byte-identical."""
    settings = SandboxSettings(seed=11, clock_start_ms=1_718_010_930_000)
    with RunningServer(settings) as first, RunningServer(settings) as second:
        for server in (first, second):
            create(server, A, "a1")
            create(server, A, "a2")
        cursor = call(first, A, "GET", "/v1/records", params={"limit": 1}).json()["pagination"]["nextCursor"]
        assert call(second, A, "GET", "/v1/records", params={"limit": 1, "cursor": cursor}).json()["data"][0]["name"] == "a1"


# -- item 3: every journal entry bounded as a whole ------------------------------------------

ENTRY_JSON_BOUND = 24 * 1024  # the documented parts' limits (docs/limits.md) add up to about 18 K characters


def test_a_journal_entry_is_bounded_whatever_the_request_carries(server, api_key):
    """Old: headers and the parsed query were kept whole: 60 requests with 223 KiB queries took 310 MB."""
    big = "x" * 200_000
    calls = [
        ("query", {"params": {"search": big}}),
        ("query", {"params": {f"p{n}": "v" * 100 for n in range(2000)}}),
        ("headers", {"headers": {"X-Big": big}}),
        ("headers", {"headers": {f"X-H{n}": "v" * 100 for n in range(1500)}}),
    ]
    for _, kwargs in calls:
        headers = {"Authorization": f"Bearer {api_key}", **kwargs.get("headers", {})}
        requests.get(f"{server.url}/v1/records", headers=headers, params=kwargs.get("params"))
    requests.get(f"{server.url}/v1/records/{'y' * 100_000}", headers={"Authorization": f"Bearer {api_key}"})
    entries = server.admin("GET", "/requests", params={"tenant": api_key}).json()["requests"]
    assert [part in entry["truncated"] for (part, _), entry in zip([*calls, ("path", {})], entries, strict=True)] == [True] * 5
    for entry in entries:
        assert len(json.dumps(entry)) < ENTRY_JSON_BOUND
    assert entries[0]["query"]["search"].endswith("…") and len(entries[0]["query"]["search"]) == 1024
    assert entries[2]["headers"]["authorization"].startswith("Bearer fp:")


# -- item 7: shared caps --------------------------------------------------------------------


def fresh_key(number: int) -> str:
    return f"rt_test_flood_{number}"


def test_a_flood_of_other_keys_leaves_a_tenants_journal_whole():
    """Old: 250 requests under other keys (--journal-limit 10) pushed out all of B's entries."""
    with RunningServer(SandboxSettings(journal_limit=10)) as server:
        create(server, B, "kept")
        for index in range(9):
            call(server, B, "GET", "/v1/records", params={"limit": index + 1})
        for number in range(250):
            call(server, fresh_key(number), "GET", "/v1/records")
        for number in range(15):  # tenants in use too, each filling its own journal
            create(server, fresh_key(1000 + number), "r")
            for _ in range(9):
                call(server, fresh_key(1000 + number), "GET", "/v1/records")
        entries = server.admin("GET", "/requests", params={"tenant": B}).json()["requests"]
        assert [e["method"] for e in entries] == ["POST"] + ["GET"] * 9


def test_a_tenants_scenario_counter_outlives_a_flood_of_new_keys(monkeypatch):
    """Old: counters of more than MAX_COUNTED_TENANTS tenants started over, oldest first, so B's
    `times: 1` scenario fired for B a second time after a stream of fresh keys."""
    from mock_runtype.sandbox import scenarios

    monkeypatch.setattr(scenarios, "MAX_COUNTED_TENANTS", 50)
    with RunningServer() as server:
        spec = {"name": "once", "when": {"method": "GET", "path": "/v1/records"}, "times": 1, "respond": {"status": 503}}
        assert server.admin("POST", "/scenarios", json=spec).status_code == 201
        assert call(server, B, "GET", "/v1/records").status_code == 503
        for number in range(120):
            call(server, fresh_key(number), "GET", "/v1/records")
        assert call(server, B, "GET", "/v1/records").status_code == 200
        create(server, A, "in use")  # a tenant that keeps something still gets a count of its own
        assert [call(server, A, "GET", "/v1/records").status_code for _ in range(2)] == [503, 200]
        [listed] = server.admin("GET", "/scenarios").json()["scenarios"]
        assert listed["matched"] == 2 + 120 + 2


def test_keys_that_keep_nothing_leave_nothing_behind_in_the_store():
    """Old: a key that created and deleted a record left its (empty) indexes behind for good."""
    with RunningServer(SandboxSettings(max_tenants=20)) as server:
        for number in range(40):
            record = create(server, fresh_key(number), "r").json()
            assert call(server, fresh_key(number), "DELETE", f"/v1/records/{record['id']}").status_code == 200
        assert server.sandbox.store._tenants == {}
        create(server, A, "first")
