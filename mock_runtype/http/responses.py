"""How the HTTP layer answers: JSON bodies, the request's body read safely, the caller."""

from __future__ import annotations

import json
from urllib.parse import quote
from typing import Any

import orjson
from flask import Response, current_app, g, request

from mock_runtype.contract.operations import operation
from mock_runtype.http.context import context_of
from mock_runtype.model.errors import InvalidRequest, UnsupportedMediaType
from mock_runtype.model.json_text import JSONTextError, loads_strict
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


IGNORED_HEADER = "X-Mock-Runtype-Ignored"
MAX_IGNORED_TEXT = 2000  # characters of the header's list of names
# A name is percent-encoded (as in a URL) except for these, so that any name fits a header and
# the list splits on ", " unambiguously.
_NAME_SAFE = "!#$&'()*+-./:;<=>?@[]^_`{|}~"


def ignored(part: str) -> list[str] | None:
    """The list the model adds the unknown fields of `part` ("body" or "query") to as it ignores
    them, as the real service most plausibly does; None under strictContract, which refuses them."""
    if sandbox().strict_contract:
        return None
    return g.setdefault("mock_runtype_ignored", {}).setdefault(part, [])


def report_ignored(response: Response) -> Response:
    """Name what the answer ignored in a header, and for the journal as a contract warning."""
    parts = g.get("mock_runtype_ignored") or {}
    names = list(dict.fromkeys(f"{part}.{quote(name, safe=_NAME_SAFE)}" for part, found in parts.items() for name in found))
    if names:
        shown = ", ".join(names)
        if len(shown) > MAX_IGNORED_TEXT:  # at a name's end: a body may hold thousands of unknown keys
            shown = shown[:shown.rfind(", ", 0, MAX_IGNORED_TEXT)] + ", ..."
        response.headers[IGNORED_HEADER] = shown
        context = context_of(request.environ)
        if context is not None:
            context.contract_warning = "ignored unknown fields: " + shown
    return response


def check_unread_query() -> None:
    """Before a handler (a `before_request` hook): an operation that reads no query string ignores
    its parameters and reports them, as those that read theirs do with names they do not know;
    under strictContract they are refused (400). The control API reads its own (`?tenant=`)."""
    if not request.environ.get("QUERY_STRING") or not request.args or request.url_rule is None:
        return
    op = operation(request.endpoint)
    if op.admin or any(parameter["in"] == "query" for parameter in op.parameters):
        return
    names = list(request.args)
    found = ignored("query")
    if found is None:
        raise InvalidRequest("Unknown query parameters: " + ", ".join(names)[:500],
                             details=[{"path": name, "message": "unknown query parameter"} for name in names])
    found.extend(names)


def authenticate(permission: str) -> Tenant:
    """The calling tenant (401 without a usable token), checked for `permission` (else 403)."""
    tenant = sandbox().tenancy.authenticate(request.headers.get("Authorization"))
    g.tenant = tenant
    tenant.require(permission)
    return tenant


def parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity or numbers that overflow to it, no duplicate keys,
    no NUL or lone surrogate in any string (Postgres JSONB refuses both); errors are 400s."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequest(f"Request body is not valid UTF-8 (byte {error.start})") from None
    try:
        value = loads_strict(text)
    except RecursionError:
        raise InvalidRequest("Malformed JSON: nested too deeply") from None
    except JSONTextError as error:
        raise InvalidRequest(f"Malformed JSON: {error}") from None
    if "\\u" in text:  # NUL and surrogates can only arrive escaped: raw ones fail above
        path = unstorable_text_path(value)
        if path is not None:
            raise InvalidRequest(
                "Unsupported text: strings must not contain \\u0000 or unpaired surrogates",
                details=[{"path": path, "message": "contains \\u0000 or an unpaired surrogate"}],
            )
    return value


def refuse_encoded_bodies() -> None:
    """Before a handler (a `before_request` hook): 415 for a body in a `Content-Encoding` (gzip, br,
    ...), which no endpoint decodes; read as it is, it would be taken for the text it is not."""
    named = request.environ.get("HTTP_CONTENT_ENCODING")  # request.headers' "Content-Encoding"
    if not named:
        return
    encodings = [part.strip().lower() for part in named.split(",")]
    refused = [name for name in encodings if name and name != "identity"]
    if refused:
        raise UnsupportedMediaType(f"Content-Encoding '{', '.join(refused)[:100]}' is not supported: send the body "
                                   "unencoded")


def request_body() -> bytes:
    """The request's body: as the interception read it before the app (for the scenarios and the
    journal) when it is whole and within the limit, since Werkzeug's stream would read it a second
    time through two wrappers; else Werkzeug's reading, with its 413 past MAX_CONTENT_LENGTH."""
    context = context_of(request.environ)
    if context is not None and context.body is not None and len(context.body) <= sandbox().settings.max_body_bytes:
        return context.body
    return request.get_data(cache=False)


def json_object_body() -> dict[str, Any]:
    """The request body as a JSON object: 415 unless it is sent as JSON, 400 unless it is an object."""
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json (got '{request.mimetype or 'none'}')"
        )
    raw = request_body()
    if not raw.strip():
        raise InvalidRequest("Request body is empty: send a JSON object")
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise InvalidRequest(
            "Request body must be a JSON object", details=[{"path": "", "message": "must be an object"}]
        )
    return body
