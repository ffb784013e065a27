"""One request as the sandbox received it (and, later, its answer): what scenarios match on and
the journal keeps. Plus the glob patterns both use for paths. Pure Python."""

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


def glob_regex(pattern: str, *, segments: bool) -> re.Pattern[str]:
    """A glob as a regex: `**` is anything; `*` is anything within one path segment when
    `segments` (else anything); `?` one character. Everything else is literal."""
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    one = "[^/]*" if segments else ".*"
    table = {"**": ".*", "*": one, "?": "[^/]" if segments else "."}
    return re.compile("".join(table.get(part, re.escape(part)) for part in parts) + r"\Z", re.DOTALL)


def normalize_path(path: str) -> str:
    """`/v1/records/` -> `/v1/records` (the app ignores a trailing slash too)."""
    return path.rstrip("/") or "/"
