"""Comparing one step's two answers after normalising what must differ, and checking the target's
answer against the document (`mock_runtype.contract.response_check`).

What must differ: ids (each side's ids are numbered in the order its records were created, so the
first record made is `<id:1>` on both sides; any other UUID is `<uuid>`), timestamps, cursors, and
the values the service derives from an account (`userId`, `organizationId`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from mock_runtype.conformance.transport import Answer, Request
from mock_runtype.contract.operations import PUBLISHED
from mock_runtype.contract.response_check import check_response

UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
GENERATED = {"userId": "<account>", "organizationId": "<account>", "nextCursor": "<cursor>",
             "prevCursor": "<cursor>"}
COMPARED_HEADERS = ("content-type", "retry-after", "www-authenticate")
MISSING = "(missing)"


@dataclass(frozen=True)
class Difference:
    field: str
    target: Any
    sandbox: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "target": self.target, "sandbox": self.sandbox}


class Ids:
    """One side's ids, numbered in the order its records were created."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def add(self, record_id: Any) -> None:
        if isinstance(record_id, str) and record_id and record_id not in self.numbers:
            self.numbers[record_id] = len(self.numbers) + 1

    def created_by(self, request: Request, answer: Answer) -> list[str]:
        """The ids a successful create or upload made (also added to the numbering)."""
        made: list[str] = []
        body = answer.json()
        if request.method == "POST" and 200 <= answer.status < 300 and isinstance(body, dict):
            if request.route.rstrip("/") == "/v1/records" and isinstance(body.get("id"), str):
                made = [body["id"]]
            elif request.route.rstrip("/") == "/v1/records/upload-csv" and isinstance(body.get("records"), list):
                made = [r["id"] for r in body["records"] if isinstance(r, dict) and isinstance(r.get("id"), str)]
        for record_id in made:
            self.add(record_id)
        return made

    def text(self, value: str) -> str:
        for record_id, number in self.numbers.items():
            if record_id in value:
                value = value.replace(record_id, f"<id:{number}>")
        return TIMESTAMP.sub("<timestamp>", UUID.sub("<uuid>", value))


def normalise(value: Any, ids: Ids, key: str | None = None) -> Any:
    if key in GENERATED and value is not None:
        return GENERATED[key]
    if isinstance(value, str):
        return ids.text(value)
    if isinstance(value, list):
        return [normalise(item, ids) for item in value]
    if isinstance(value, dict):
        return {k: normalise(v, ids, k) for k, v in value.items()}
    return value


def body_view(answer: Answer, ids: Ids) -> Any:
    """The body as compared: JSON normalised, text normalised line by line, or nothing."""
    if not answer.body:
        return None
    if answer.mimetype == "application/json" or answer.mimetype.endswith("+json"):
        try:
            return normalise(json.loads(answer.body), ids)
        except ValueError:
            pass
    text = answer.body.decode("utf-8", "replace")
    return [ids.text(line) for line in text.splitlines()]


def header_view(answer: Answer, name: str) -> Any:
    value = answer.headers.get(name)
    if value is None:
        return MISSING
    if name == "content-type":
        return answer.mimetype
    return value


def walk(theirs: Any, ours: Any, path: str, found: list[Difference], ignore: tuple[str, ...]) -> None:
    """The differences between two bodies, by dotted path (`body.data.0.name`); a key one side lacks
    is one difference however much it holds."""
    if any(fnmatchcase(path, "body." + pattern) or fnmatchcase(path, pattern) for pattern in ignore):
        return
    if isinstance(theirs, dict) and isinstance(ours, dict):
        for key in list(theirs) + [k for k in ours if k not in theirs]:
            walk(theirs.get(key, MISSING), ours.get(key, MISSING), f"{path}.{key}", found, ignore)
    elif isinstance(theirs, list) and isinstance(ours, list):
        for index in range(max(len(theirs), len(ours))):
            walk(theirs[index] if index < len(theirs) else MISSING, ours[index] if index < len(ours) else MISSING,
                 f"{path}.{index}", found, ignore)
    elif theirs != ours or isinstance(theirs, bool) != isinstance(ours, bool):  # 1 and 1.0 are one JSON number
        found.append(Difference(path, theirs, ours))


def differences(target: Answer, target_ids: Ids, sandbox: Answer, sandbox_ids: Ids,
                ignore: tuple[str, ...] = ()) -> list[Difference]:
    found = []
    if target.status != sandbox.status:
        found.append(Difference("status", target.status, sandbox.status))
    for name in COMPARED_HEADERS:
        theirs, ours = header_view(target, name), header_view(sandbox, name)
        if name == "retry-after" and theirs != MISSING and ours != MISSING:
            theirs, ours = _seconds(theirs), _seconds(ours)  # how long differs; that it is seconds must not
        if theirs != ours:
            found.append(Difference(f"header {name}", theirs, ours))
    walk(body_view(target, target_ids), body_view(sandbox, sandbox_ids), "body", found, ignore)
    return found


def _seconds(value: str) -> str:
    return "<seconds>" if value.strip().isdigit() else value


OPERATION_PATTERNS = [(re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(op.path)) + "/?$"), op)
                      for op in PUBLISHED]


def operation_path(method: str, route: str) -> str | None:
    """The published operation's path (`/v1/records/{id}`) a request goes to, None if none.
    Literal paths win over templates, as the server's routing has it."""
    matches = [op for pattern, op in OPERATION_PATTERNS if pattern.match(route)]
    for op in sorted(matches, key=lambda op: op.path.count("{")):
        if op.method == method.lower() or (method.upper() == "HEAD" and op.method == "get"):
            return op.path
    return matches[0].path if matches else None


def schema_problems(request: Request, answer: Answer) -> list[dict[str, str]]:
    """What in the target's answer breaks the sandbox's document (its statuses and schemas)."""
    mismatch = check_response(request.method, operation_path(request.method, request.route), answer.status,
                              answer.mimetype, answer.body)
    if mismatch is None:
        return []
    fields = [d for d in mismatch.details if d.get("path")]
    return fields or [{"path": "", "message": mismatch.summary}]
