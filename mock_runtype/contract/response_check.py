"""Checking what the server is about to send against the documented responses (`--check-responses`).

`check_response(...)` finds the documented answer for a method, route and status among the
published operations of `mock_runtype.contract.operations` and returns what breaks it: an
undocumented status, a wrong media type, a body that is not JSON, or each field that breaks the
response schema. Pure Python; `mock_runtype.http.response_check_hook` wires it into the app.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mock_runtype.contract.operations import ERROR_SCHEMA, JSON, Operation, find_operation
from mock_runtype.model.validation import describe, problems


@dataclass(frozen=True)
class Mismatch:
    """Why a response breaks the document: a one-line summary and the offending fields."""

    summary: str
    details: list[dict[str, str]]

    def message(self, method: str, path: str, status: int) -> str:
        return f"Response check failed: {method} {path} answered {status}, {self.summary}"


def check_response(method: str, rule: str | None, status: int, mimetype: str, body: bytes | None) -> Mismatch | None:
    """What breaks the documented answer (None when it conforms).

    `rule` is the matched route (`/v1/records/<id>`, None when no route matched); `body` is
    the bytes to send, or None when the body is streamed (only its media type is checked then).
    Successes of routes outside the document (the admin API, CORS preflights) are not checked;
    every error status must carry the error body.
    """
    operation = _published(method, rule)
    if operation is not None:
        answer = operation.answer(status)
        if answer is None:
            return Mismatch(f"a status not documented for {operation.operation_id}", [])
        schema, media = answer.schema, answer.media
    elif status >= 400:
        schema, media = ERROR_SCHEMA, JSON
    else:
        return None
    if not media:
        return None if not body else Mismatch("which must have no body", [{"path": "", "message": "must be empty"}])
    if mimetype != media:
        return Mismatch(f"as {mimetype or 'no media type'} instead of {media}",
                        [{"path": "", "message": f"Content-Type must be {media}"}])
    if schema is None or body is None:
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return Mismatch("with a body that is not JSON", [{"path": "", "message": "is not JSON"}])
    details = problems(schema, payload)
    if details:
        return Mismatch(f"breaking {schema} at {describe(details)}", details)
    return None


def _published(method: str, rule: str | None) -> Operation | None:
    operation = find_operation(method, openapi_path(rule)) if rule else None
    return operation if operation is not None and operation.published else None


def openapi_path(flask_rule: str) -> str:
    """`/v1/records/<id>` -> `/v1/records/{id}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", flask_rule)
