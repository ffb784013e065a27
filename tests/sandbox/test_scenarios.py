"""Scenario matching and counters, without HTTP."""

from __future__ import annotations

import threading

import pytest

from mock_runtype.model.clock import Clock
from mock_runtype.model.errors import NotFound
from mock_runtype.sandbox.exchange import Exchange
from mock_runtype.sandbox.scenarios import Scenarios


def exchange(path="/v1/records", method="GET", tenant="k", body=b"", query=None, headers=None) -> Exchange:
    return Exchange(method, path, query or {}, headers or {}, body, tenant, 0)


def fired(scenarios: Scenarios, count: int, **request) -> list[bool]:
    return [bool(scenarios.decide(exchange(**request)).fired) for _ in range(count)]


@pytest.fixture
def scenarios() -> Scenarios:
    return Scenarios(Clock(start_ms=0), lambda: 42)


@pytest.mark.parametrize("counter, expected", [
    ({"times": 2}, [True, True, False, False, False, False]),
    ({"after": 2}, [False, False, True, True, True, True]),
    ({"every": 3}, [False, False, True, False, False, True]),
    ({"after": 1, "every": 2, "times": 2}, [False, False, True, False, True, False]),
])
def test_counters(scenarios, counter, expected):
    scenarios.add({"name": "s", "respond": {"status": 500}, **counter})
    assert fired(scenarios, 6) == expected


def test_counters_are_kept_per_tenant(scenarios):
    scenarios.add({"name": "s", "times": 1, "respond": {"status": 500}})
    assert fired(scenarios, 2, tenant="a") == [True, False]
    assert fired(scenarios, 2, tenant="b") == [True, False]


def test_probability_is_a_seeded_sequence(scenarios):
    scenarios.add({"name": "s", "probability": 0.5, "fault": "malformed_json"})
    other = Scenarios(Clock(start_ms=0), lambda: 42)
    other.add({"name": "s", "probability": 0.5, "fault": "malformed_json"})
    first = fired(scenarios, 40)
    assert first == fired(other, 40) and 5 < sum(first) < 35


def test_matchers(scenarios):
    scenarios.add({"name": "s", "respond": {"status": 418}, "when": {
        "method": ["post", "PUT"], "path": "/v1/records/*", "tenant": "k",
        "query": {"dryRun": "t*"}, "headers": {"X-Trace": "abc*"}, "body": {"metadata": {"tier": "gold"}}}})
    good = dict(path="/v1/records/42/", method="POST", query={"dryRun": ["true"]}, headers={"x-trace": "abc-1"},
                body=b'{"name": "n", "metadata": {"tier": "gold", "x": 1}}')
    assert fired(scenarios, 1, **good) == [True]
    for change in ({"path": "/v1/records/42/costs"}, {"method": "GET"}, {"tenant": "other"},
                   {"query": {}}, {"headers": {"x-trace": "zzz"}}, {"body": b'{"metadata": {"tier": "silver"}}'},
                   {"body": b"not json"}):
        assert fired(scenarios, 1, **{**good, **change}) == [False], change


def test_yaml_scalars_match_their_wire_text(scenarios):
    scenarios.add({"name": "s", "when": {"query": {"includeCount": True, "limit": 5}}, "delayMs": 1})
    assert fired(scenarios, 1, query={"includeCount": ["true"], "limit": ["5"]}) == [True]


def test_double_star_matches_any_depth(scenarios):
    scenarios.add({"name": "s", "when": {"path": "/v1/**"}, "delayMs": 5})
    assert scenarios.decide(exchange("/v1/records/a/costs")).delay_ms == 5


def test_rate_limit_counts_a_sliding_window_on_the_sandbox_clock():
    clock = Clock(start_ms=0)
    scenarios = Scenarios(clock, lambda: None)
    scenarios.add({"name": "r", "rateLimit": {"limit": 2, "windowSeconds": 10}})
    assert [scenarios.decide(exchange()).retry_after_s for _ in range(3)] == [None, None, 10]
    clock.advance(4000)
    assert scenarios.decide(exchange()).retry_after_s == 6
    clock.advance(6000)
    outcome = scenarios.decide(exchange())
    assert outcome.retry_after_s is None and outcome.headers["RateLimit-Remaining"] == "1"


def test_a_tenants_scenario_applies_to_it_alone_and_goes_with_its_reset(scenarios):
    scenarios.add({"name": "mine", "respond": {"status": 503}}, tenant_key="a")
    assert fired(scenarios, 1, tenant="a") == [True] and fired(scenarios, 1, tenant="b") == [False]
    scenarios.clear("a")
    assert fired(scenarios, 1, tenant="a") == [False]


def test_reading_or_removing_a_tenants_scenarios_keeps_no_entry_for_it(scenarios):
    assert scenarios.specs("reader") == [] and scenarios.name_for({}, "reader") == "scenario-1"
    with pytest.raises(NotFound):
        scenarios.remove("missing", tenant_key="reader")
    scenarios.add({"name": "only", "respond": {"status": 503}}, tenant_key="writer")
    scenarios.remove("only", tenant_key="writer")
    assert scenarios._by_tenant == {}  # nothing kept, so requests take the no-scenario fast path


def test_parallel_requests_of_one_tenant_count_exactly(scenarios):
    scenarios.add({"name": "five-times", "when": {"path": "/v1/records"}, "times": 5, "respond": {"status": 500}})
    scenarios.add({"name": "limited", "when": {"path": "/v1/other"}, "rateLimit": {"limit": 10, "windowSeconds": 60}})
    outcomes: list = []
    lock = threading.Lock()

    def requests_of_one_tenant() -> None:
        mine = [scenarios.decide(exchange(path=path)) for _ in range(25) for path in ("/v1/records", "/v1/other")]
        with lock:
            outcomes.extend(mine)

    threads = [threading.Thread(target=requests_of_one_tenant) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o.respond is not None for o in outcomes) == 5
    assert sum(o.retry_after_s is not None for o in outcomes) == 200 - 10
    assert {s["name"]: (s["matched"], s["fired"]) for s in scenarios.listing("k")} == {"five-times": (200, 5), "limited": (200, 190)}
