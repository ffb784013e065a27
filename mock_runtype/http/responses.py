"""How the HTTP layer answers: JSON bodies, the request's body read safely, the caller."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from flask import Response, current_app, g, request

from mock_runtype.model.errors import InvalidRequest, UnsupportedMediaType
from mock_runtype.sandbox.core import Sandbox
from mock_runtype.model.tenancy import Tenant
from mock_runtype.model.validation import unstorable_text_path


def sandbox() -> Sandbox:
    """The Sandbox the current app serves."""
    return current_app.extensions["mock_runtype"]


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encode_json(payload), status=status, headers=headers, mimetype="application/json")


def encode_json(payload: Any) -> bytes:
    """Compact UTF-8 JSON. orjson writes a list page in about 6 µs where the standard library takes
    about 90 (bench/micro.py); what orjson refuses (an integer beyond 64 bits, a non-string key)
    goes through the standard library, which writes the same JSON."""
    try:
        return orjson.dumps(payload)
    except TypeError:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def authenticate(permission: str) -> Tenant:
    """The calling tenant (401 without a usable token), checked for `permission` (else 403)."""
    tenant = sandbox().tenancy.authenticate(request.headers.get("Authorization"))
    g.tenant = tenant
    tenant.require(permission)
    return tenant


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key '{duplicate[:80]}'")
    return result


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is out of range")
    return number


def parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity or numbers that overflow to it, no duplicate keys,
    no NUL or lone surrogate in any string (Postgres JSONB refuses both); errors are 400s."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest(f"Request body is not valid UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                           object_pairs_hook=_object_without_duplicates)
    except RecursionError:
        raise InvalidRequest("Malformed JSON: nested too deeply") from None
    except json.JSONDecodeError as error:
        raise InvalidRequest(f"Malformed JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except ValueError as error:
        raise InvalidRequest(f"Malformed JSON: {error}") from None
    if "\\u" in text:  # NUL and surrogates can only arrive escaped: raw ones fail above
        path = unstorable_text_path(value)
        if path is not None:
            raise InvalidRequest(
                "Unsupported text: strings must not contain \\u0000 or unpaired surrogates",
                details=[{"path": path, "message": "contains \\u0000 or an unpaired surrogate"}],
            )
    return value


def json_object_body() -> dict[str, Any]:
    """The request body as a JSON object: 415 unless it is sent as JSON, 400 unless it is an object."""
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json (got '{request.mimetype or 'none'}')"
        )
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise InvalidRequest("Request body is empty: send a JSON object")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise InvalidRequest(
            "Request body must be a JSON object", details=[{"path": "", "message": "must be of type object"}]
        )
    return body
