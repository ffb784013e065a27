"""One request as the sandbox received it (and, later, its answer): what scenarios match on and
the journal keeps. Plus the glob patterns both use for paths, query values and headers. Pure Python."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Exchange:
    """One request as received, and later its answer. Built by the HTTP layer."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    tenant_key: str | None
    time_ms: int
    status: int | None = None
    response_body: bytes = b""
    response_type: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)  # lower-case names, as answered
    scenarios: list[str] = field(default_factory=list)
    fault: str | None = None
    violation: str | None = None  # the contract violation the answer reported (http/errors.py)
    contract_warning: str | None = None  # what the answer ignored of the request (unknown fields)
    seq: int = 0
    cut: list[str] = field(default_factory=list)  # parts the journal shortened: path, query, headers


class Glob:
    """A glob compiled to match in time linear in the text: `**` is anything; `*` anything within
    one path segment when `segments` (else anything); `?` one character; the rest literal.

    With at most one star a regex matches it (its backtracking is bounded by the pattern's
    length). With more, a regex could take O(n^stars) steps on a long text that nearly matches
    (`/v1/*-*-*-*-*` against 200 dashes: 29 s), so the pattern runs as an automaton over a bit set
    of its positions instead: a few integer operations per character, whatever the pattern."""

    __slots__ = ("pattern", "_regex", "_steps")

    def __init__(self, pattern: str, *, segments: bool) -> None:
        self.pattern = pattern
        parts = [part for part in re.split(r"(\*+|\?)", pattern) if part]
        # A run of stars is one star: `**` when two of them touch, else one segment's `*`.
        tokens = [("**" if len(part) > 1 or not segments else "*") if part.startswith("*") else part
                  for part in parts]
        if sum(token in ("*", "**") for token in tokens) <= 1:
            table = {"**": ".*", "*": "[^/]*", "?": "[^/]" if segments else "."}
            self._regex = re.compile("".join(table.get(t, re.escape(t)) for t in tokens) + r"\Z", re.DOTALL)
            self._steps = None
            return
        self._regex = None
        literal: dict[str, int] = {}
        any_char = any_but_slash = star = star_but_slash = 0
        position = 0
        for token in tokens:
            if token in ("*", "**"):
                if token == "**":
                    star |= 1 << position
                else:
                    star_but_slash |= 1 << position
                position += 1
            elif token == "?":
                if segments:
                    any_but_slash |= 1 << position
                else:
                    any_char |= 1 << position
                position += 1
            else:
                for char in token:
                    literal[char] = literal.get(char, 0) | 1 << position
                    position += 1
        self._steps = (literal, any_char, any_but_slash, star, star_but_slash, 1 << position)

    def match(self, text: str) -> bool:
        if self._regex is not None:
            return self._regex.match(text) is not None
        literal, any_char, any_but_slash, star, star_but_slash, accept = self._steps
        stars = star | star_but_slash
        active = 1 | (1 & stars) << 1
        for char in text:
            if char == "/":
                moving, staying = literal.get("/", 0) | any_char, star
            else:
                moving, staying = literal.get(char, 0) | any_char | any_but_slash, stars
            active = (active & moving) << 1 | (active & staying)
            if not active:
                return False
            active |= (active & stars) << 1  # no two stars touch: one step closes over them
        return bool(active & accept)


def normalize_path(path: str) -> str:
    """`/v1/records/` -> `/v1/records` (the app ignores a trailing slash too)."""
    return path.rstrip("/") or "/"
