"""The conformance guard against a case file that tries to reach records the run did not make:
dot segments a server folds away, a JSON body whose media type is spelled in capitals, and a
target named below .localhost (which the resolver may send anywhere)."""

from __future__ import annotations

import json

import pytest

from mock_runtype.conformance import guard
from mock_runtype.conformance.transport import Request, is_loopback

PREFIX = "mrc_abc_"
OWN = {"rec_own"}


@pytest.mark.parametrize("path", [
    "/v1/records/schema/../rec_foreign",
    "/v1/records/rec_own/../rec_foreign",
    "/v1/records/rec_own/%2e%2e/rec_foreign",
    "/v1/records/rec_own/./../rec_foreign",
])
def test_a_dot_segment_cannot_step_from_an_own_record_to_another(path):
    # a target (or a proxy before it) that folds `..` would delete rec_foreign
    with pytest.raises(guard.Unsafe):
        guard.check(Request("DELETE", path, {}), PREFIX, OWN)


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=utf-8", " application/json"])
def test_a_json_body_is_read_whatever_the_case_of_its_media_type(content_type):
    body = json.dumps({"applyToAll": True, "updates": {"x": 1}}).encode()
    with pytest.raises(guard.Unsafe):
        guard.check(Request("POST", "/v1/records/bulk-edit", {"Content-Type": content_type}, body), PREFIX, OWN)


def test_the_runs_own_steps_still_pass():
    guard.check(Request("DELETE", "/v1/records/rec_own", {}), PREFIX, OWN)
    body = json.dumps({"recordIds": ["rec_own"], "updates": {"x": 1}}).encode()
    guard.check(Request("POST", "/v1/records/bulk-edit", {"Content-Type": "application/json"}, body), PREFIX, OWN)


@pytest.mark.parametrize("url", ["http://evil.localhost:8080", "http://127.0.0.1.evil.example",
                                 "http://localhost@evil.example", "http://localhost.:8080"])
def test_only_a_literal_loopback_host_counts_as_loopback(url):
    # a name below .localhost goes to the resolver (glibc sends it to DNS), which may answer any address
    assert not is_loopback(url)
