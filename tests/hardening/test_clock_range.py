"""The clock never leaves the instants a date-time can write (0001-01-01 to 9999-12-31T23:59:59.999Z):
a move past them is a 400 naming the range with nothing changed, so no later call fails."""

from __future__ import annotations

import pytest
import requests

from mock_runtype.model.clock import LAST_MS, Clock, format_timestamp, parse_duration
from mock_runtype.sandbox.fixtures import FixtureError, parse_fixture

LAST = "9999-12-31T23:59:59.999Z"


def records(server, key):
    return requests.get(f"{server.url}/v1/records", headers={"Authorization": f"Bearer {key}"}, timeout=10)


@pytest.mark.parametrize("move", [{"advanceMs": 10 ** 25}, {"advanceMs": 10 ** 13 * 30}, {"advance": "4000000d"},
                                  {"advance": "9" * 400 + "d"}, {"set": "9999-12-31T23:59:59-01:00"},
                                  {"set": "0001-01-01T00:00:00+01:00"}])
@pytest.mark.parametrize("scoped", [False, True])
def test_a_move_past_the_range_is_a_400_and_moves_nothing(server, api_key, move, scoped):
    params = {"tenant": api_key} if scoped else None
    if not scoped:
        server = type(server)()  # server-wide: a server of the test's own
    try:
        assert requests.post(f"{server.url}/__admin/clock", params=params, json={"set": "2024-06-10T09:15:30Z"},
                             timeout=10).status_code == 200
        answer = requests.post(f"{server.url}/__admin/clock", params=params, json=move, timeout=10)
        assert answer.status_code == 400, answer.text
        assert LAST in answer.json()["error"] or "too long" in answer.json()["error"]
        clock = requests.get(f"{server.url}/__admin/clock", params=params, timeout=10).json()
        assert clock["now"] == "2024-06-10T09:15:30.000Z"
        created = requests.post(f"{server.url}/v1/records", json={"type": "t", "name": "n"},
                                headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
        assert created.status_code == 201 and created.json()["createdAt"] == "2024-06-10T09:15:30.000Z"
        assert records(server, api_key).status_code == 200
        assert requests.get(f"{server.url}/__admin/state", timeout=10).status_code == 200
    finally:
        if not scoped:
            server.close()


def test_the_last_instant_is_reachable_and_loads_back(own_server, api_key):
    headers = {"Authorization": f"Bearer {api_key}"}
    assert requests.post(f"{own_server.url}/__admin/clock", json={"set": "9999-12-31T23:59:59.000Z"}, timeout=10).ok
    assert requests.post(f"{own_server.url}/__admin/clock", json={"advanceMs": 999}, timeout=10).json()["now"] == LAST
    assert requests.post(f"{own_server.url}/__admin/clock", json={"advanceMs": 1}, timeout=10).status_code == 400
    created = requests.post(f"{own_server.url}/v1/records", json={"type": "t", "name": "n"}, headers=headers, timeout=10)
    assert created.status_code == 201 and created.json()["createdAt"] == LAST
    updated = requests.patch(f"{own_server.url}/v1/records/{created.json()['id']}", json={"name": "m"},
                             headers=headers, timeout=10)
    assert updated.status_code == 200 and updated.json()["updatedAt"] == LAST
    state = requests.get(f"{own_server.url}/__admin/state", timeout=10)
    assert state.status_code == 200
    parse_fixture(state.text)  # what the state exports loads back


@pytest.mark.parametrize("field, value", [("settings.clock", "9999-12-31T23:59:59-01:00"),
                                          ("records[0].createdAt", "0001-01-01T00:00:00+00:30")])
def test_a_fixture_time_past_the_range_is_a_problem(field, value):
    if field.startswith("settings"):
        document = f'settings: {{clock: "{value}"}}\n'
    else:
        document = f'tenants: [{{apiKey: k}}]\nrecords: [{{tenant: k, type: t, name: n, createdAt: "{value}"}}]\n'
    with pytest.raises(FixtureError) as caught:
        parse_fixture(document)
    (problem,) = caught.value.problems
    assert problem.path == field and LAST in problem.message


def test_the_range_is_written_with_four_digit_years():
    assert format_timestamp(LAST_MS) == LAST
    assert format_timestamp(-62135596800000) == "0001-01-01T00:00:00.000Z"
    clock = Clock(LAST_MS - 5)
    with pytest.raises(ValueError):
        clock.advance(6)
    assert clock.now_ms(None) == LAST_MS - 5
    with pytest.raises(ValueError):
        parse_duration("9" * 400 + "d")
