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

    A plain regex of a glob with several stars can take O(n^stars) steps on a long text that
    nearly matches (`/v1/records/*-*-*-*-*` against 200 dashes: 29 s, holding every request up).
    So: with stars of one kind, each run of literals between two stars is sought atomically (its
    first occurrence: with one kind of star, no later one matches more), in C; with `*` alone in a
    path glob, segment by segment (its slashes match the text's one for one); with both kinds,
    an automaton over a bit set of the glob's positions, a few integer operations per character
    (0.2 s for 256 KB, the longest text a request carries)."""

    __slots__ = ("pattern", "_regex", "_segments", "_steps")

    def __init__(self, pattern: str, *, segments: bool) -> None:
        self.pattern = pattern
        parts = [part for part in re.split(r"(\*+|\?)", pattern) if part]
        # A run of stars is one star: `**` when two of them touch, else one segment's `*`.
        tokens = [("**" if len(part) > 1 or not segments else "*") if part.startswith("*") else part
                  for part in parts]
        self._regex = self._segments = self._steps = None
        kinds = {token for token in tokens if token in ("*", "**")}
        if kinds == {"*"}:  # a path glob whose stars stay in their segments
            self._segments = [_one_kind_regex(segment, ".") for segment in _split_at_slashes(tokens)]
        elif len(kinds) <= 1:
            self._regex = _one_kind_regex(tokens, "[^/]" if segments else ".")
        else:
            self._steps = _automaton(tokens)

    def match(self, text: str) -> bool:
        if self._regex is not None:
            return self._regex.match(text) is not None
        if self._segments is not None:
            pieces = text.split("/")
            return len(pieces) == len(self._segments) and all(
                regex.match(piece) is not None for regex, piece in zip(self._segments, pieces))
        literal, any_but_slash, star, star_but_slash, accept = self._steps
        stars = star | star_but_slash
        active = 1 | (1 & stars) << 1
        for char in text:
            if char == "/":
                moving, staying = literal.get("/", 0), star
            else:
                moving, staying = literal.get(char, 0) | any_but_slash, stars
            active = (active & moving) << 1 | (active & staying)
            if not active:
                return False
            active |= (active & stars) << 1  # no two stars touch: one step closes over them
        return bool(active & accept)


def _one_kind_regex(tokens: list[str], one: str) -> re.Pattern[str]:
    """Tokens whose stars all mean anything (`.*`), as a regex that never backtracks into a star
    but the last: each run between two stars is its first occurrence, in an atomic group."""
    runs = [""]
    for token in tokens:
        if token in ("*", "**"):
            runs.append("")
        else:
            runs[-1] += one if token == "?" else re.escape(token)
    middle = "".join(f"(?>.*?{run})" for run in runs[1:-1])
    last = f".*{runs[-1]}" if len(runs) > 1 else ""
    return re.compile(runs[0] + middle + last + r"\Z", re.DOTALL)


def _split_at_slashes(tokens: list[str]) -> list[list[str]]:
    """A path glob's tokens, segment by segment (its literal slashes are the boundaries)."""
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in ("*", "?"):
            segments[-1].append(token)
            continue
        first, *rest = token.split("/")
        if first:
            segments[-1].append(first)
        for piece in rest:
            segments.append([piece] if piece else [])
    return segments


def _automaton(tokens: list[str]) -> tuple[dict[str, int], int, int, int, int]:
    """The bit masks `Glob.match` steps with (a path glob with both kinds of star): per literal
    character, then the positions of `?`, `**` and `*`."""
    literal: dict[str, int] = {}
    any_but_slash = star = star_but_slash = 0
    position = 0
    for token in tokens:
        if token == "**":
            star |= 1 << position
        elif token == "*":
            star_but_slash |= 1 << position
        elif token == "?":
            any_but_slash |= 1 << position
        else:
            for char in token:
                literal[char] = literal.get(char, 0) | 1 << position
                position += 1
            continue
        position += 1
    return literal, any_but_slash, star, star_but_slash, 1 << position


def normalize_path(path: str) -> str:
    """`/v1/records/` -> `/v1/records` (the app ignores a trailing slash too)."""
    return path.rstrip("/") or "/"
