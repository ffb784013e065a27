"""Globs: the same matches as the regexes they were, in time linear in the text (the hostile
cases are in tests/hardening/test_third_review.py)."""

from __future__ import annotations

from mock_runtype.sandbox.exchange import Glob


def test_globs_match_as_before():
    cases = [("/v1/*/x", "/v1/a/x", True), ("/v1/*/x", "/v1/a/b/x", False), ("/v1/**/x", "/v1/a/b/x", True),
             ("/v1/*-*-*", "/v1/a-b-c", True), ("/v1/*-*-*", "/v1/a-b/c", False), ("/v1/?*?", "/v1/ab", True),
             ("/v1/?*?", "/v1/a", False), ("**a*b", "xa/ab", True), ("/v1/***", "/v1/a/b", True), ("", "", True),
             ("/v1/*/*", "/v1//", True), ("/v1/**-*", "/v1/a/b-c", True), ("/v1/**-*", "/v1/a-b/c", False),
             ("**/x/**", "/a/x/b", True), ("*-*-*", "a-b/-c", False)]
    for pattern, text, expected in cases:
        assert Glob(pattern, segments=True).match(text) is expected, (pattern, text)
    assert Glob("*a?c*", segments=False).match("x/abc/y")
    assert not Glob("*a?c*", segments=False).match("x/ab")
