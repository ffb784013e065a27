"""The target's side of a run: 429 honoured after Retry-After (bounded), loopback told apart."""

from __future__ import annotations

from mock_runtype.conformance.compare import Ids, differences
from mock_runtype.conformance.transport import Answer, HttpSide, Request, is_loopback
from mock_runtype.testing import LocalServer, new_api_key


def test_a_429_is_retried_after_its_retry_after():
    key = new_api_key()
    waits: list[float] = []
    with LocalServer() as server:
        server.sandbox.add_scenario({"name": "busy", "when": {"method": "GET", "path": "/v1/records"}, "times": 2,
                                     "respond": {"status": 429, "headers": {"Retry-After": "2"},
                                                 "body": {"error": "slow down"}}}, key)
        side = HttpSide(server.url, key, sleep=waits.append)
        answer = side.send(Request("GET", "/v1/records?type=t", {"Authorization": f"Bearer {key}"}))
    assert answer.status == 200 and waits == [2.0, 2.0] and answer.waited_s == 4.0


def test_a_retry_after_past_the_bound_is_not_waited_out():
    key = new_api_key()
    waits: list[float] = []
    with LocalServer() as server:
        server.sandbox.add_scenario({"name": "closed", "when": {"method": "GET", "path": "/v1/records"},
                                     "respond": {"status": 429, "headers": {"Retry-After": "3600"},
                                                 "body": {"error": "come back later"}}}, key)
        side = HttpSide(server.url, key, sleep=waits.append)
        answer = side.send(Request("GET", "/v1/records", {"Authorization": f"Bearer {key}"}))
    assert answer.status == 429 and waits == []


def test_only_literal_loopback_hosts_are_loopback():
    assert all(is_loopback(u) for u in ("http://127.0.0.1:8080", "http://localhost", "http://[::1]:1", "http://127.9.9.9"))
    assert not any(is_loopback(u) for u in ("https://api.runtype.com", "http://10.0.0.1", "http://localhost.evil.com"))


def test_ids_are_compared_by_the_order_they_were_created():
    theirs, ours = Ids(), Ids()
    theirs.add("aaaaaaaa-0000-4000-8000-000000000001")
    ours.add("bbbbbbbb-0000-4000-8000-000000000001")
    one = Answer(200, {"content-type": "application/json"},
                 b'{"id": "aaaaaaaa-0000-4000-8000-000000000001", "createdAt": "2024-06-10T09:15:30Z", "userId": "u1"}')
    two = Answer(200, {"content-type": "application/json"},
                 b'{"id": "bbbbbbbb-0000-4000-8000-000000000001", "createdAt": "2025-01-01T00:00:00.123Z", "userId": "u2"}')
    assert differences(one, theirs, two, ours) == []
    ours.numbers.clear()
    ours.add("cccccccc-0000-4000-8000-000000000002")
    ours.add("bbbbbbbb-0000-4000-8000-000000000001")  # the second one made on this side
    assert [d.field for d in differences(one, theirs, two, ours)] == ["body.id"]
