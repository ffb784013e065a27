"""What keeps a conformance run safe on a real account: a request is sent to the target only if
everything it writes, and every list it reads, is the run's own.

The run's own: records of a type under its unique prefix, and the ids its own creates answered
(plus the one id it made up to ask for something absent). A step that could reach anything else
(a list or an export without a type of the run, a bulk edit over all records, an update or a
delete of an id it did not create, a record renamed into a foreign type) is refused before it
leaves, and the case fails with the reason.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, unquote

from mock_runtype.conformance.transport import Request

COLLECTIONS = {"bulk-delete", "bulk-edit", "export", "field-values", "preview-filter", "schema", "upload-csv"}
TYPE_REQUIRED = {("GET", "/v1/records"), ("GET", "/v1/records/export")}


class Unsafe(Exception):
    """The request could touch what the run did not make."""


def check(request: Request, prefix: str, own_ids: set[str]) -> None:
    route = request.route.rstrip("/")
    query = parse_qs(request.path.split("?", 1)[1], keep_blank_values=True) if "?" in request.path else {}
    body = _json(request)
    segments = route.split("/")
    if any(unquote(segment) in (".", "..") for segment in segments):
        # a server or proxy that folds dot segments would send it to another path than the one checked
        raise Unsafe(f"{request.method} {route}: a path with . or .. segments")
    if segments[:3] != ["", "v1", "records"]:
        if request.method != "GET":
            raise Unsafe(f"{request.method} {route}: only reads may go outside /v1/records")
        return
    if len(segments) >= 4 and segments[3] not in COLLECTIONS and segments[3] not in own_ids:
        raise Unsafe(f"{request.method} {route}: {segments[3]!r} is not a record this run created")
    types = _types(query, body, request)
    foreign = [t for t in types if not t.startswith(prefix)]
    if foreign:
        raise Unsafe(f"{request.method} {route}: type {foreign[0]!r} is not under the run's prefix {prefix}")
    if (request.method, route) in TYPE_REQUIRED and not types:
        raise Unsafe(f"{request.method} {route}: a list or export must name a type of the run")
    if route == "/v1/records/bulk-delete" and isinstance(body, dict):
        _own(body.get("ids"), own_ids, route)
    if route == "/v1/records/bulk-edit" and isinstance(body, dict):
        _own(body.get("recordIds"), own_ids, route)
        if (body.get("applyToAll") or body.get("conditions")) and not types:
            raise Unsafe(f"POST {route}: applyToAll or conditions need a recordFilter of a type of the run")
    if route == "/v1/records/upload-csv" and request.method == "POST" and "typevalue" not in _form_names(request):
        raise Unsafe(f"POST {route}: an upload must give typeValue (a type of the run)")


def types_named(request: Request) -> list[str]:
    """The types a request names (to list and delete them at the end)."""
    query = parse_qs(request.path.split("?", 1)[1], keep_blank_values=True) if "?" in request.path else {}
    return _types(query, _json(request), request)


def _types(query: dict[str, list[str]], body: Any, request: Request) -> list[str]:
    found = list(query.get("type", []))
    for text in query.get("recordFilter", []):
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        if isinstance(parsed, dict) and isinstance(parsed.get("type"), str):
            found.append(parsed["type"])
    if isinstance(body, dict):
        if isinstance(body.get("type"), str):
            found.append(body["type"])
        record_filter = body.get("recordFilter")
        if isinstance(record_filter, dict) and isinstance(record_filter.get("type"), str):
            found.append(record_filter["type"])
    found.extend(value for name, value in _form(request).items() if name.lower() == "typevalue")
    return [t for t in found if t]


def _own(ids: Any, own_ids: set[str], route: str) -> None:
    if isinstance(ids, list):
        strangers = [i for i in ids if i not in own_ids]
        if strangers:
            raise Unsafe(f"POST {route}: {strangers[0]!r} is not a record this run created")


def _mimetype(request: Request) -> str:
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    return content_type.split(";", 1)[0].strip().lower()


def _json(request: Request) -> Any:
    if not request.body or not (_mimetype(request) == "application/json" or _mimetype(request).endswith("+json")):
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        return None


def _form(request: Request) -> dict[str, str]:
    """The plain fields of the multipart bodies this run builds."""
    if not request.body or _mimetype(request) != "multipart/form-data":
        return {}
    fields = {}
    for part in request.body.decode("utf-8", "replace").split("\r\n--"):
        head, _, value = part.partition("\r\n\r\n")
        if 'name="' in head and "filename=" not in head:
            fields[head.split('name="', 1)[1].split('"', 1)[0]] = value.rstrip("\r\n").split("\r\n--", 1)[0]
    return fields


def _form_names(request: Request) -> set[str]:
    return {name.lower() for name in _form(request)}
