"""The record itself, and the one place that shapes a record for output."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from mock_runtype.model.clock import format_timestamp
from mock_runtype.model.errors import InvalidRequest, Unprocessable

COMPACT_LIMIT = 100
MAX_METADATA_BYTES = 1024 * 1024
# How deep a record's metadata (and messages) may nest, the value itself being level 1: every
# read (compact view, discovery, dotted paths, exports) can then walk what a write accepted.
MAX_NESTING = 64

# Formatting a timestamp costs about 1.6 µs, two per record shown: the hot records' are remembered.
_wire_timestamp = lru_cache(maxsize=8192)(format_timestamp)


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record. Immutable: an update stores a new Record in place of the old one.

    `seq` is the tenant's own insertion counter (a tie-breaker for ordering); `tenant_key` is the
    API key whose data this is. Timestamps are milliseconds since the epoch.
    """

    id: str
    seq: int
    tenant_key: str
    user_id: str
    organization_id: str | None
    type: str
    name: str
    metadata: dict[str, Any]
    messages: list[dict[str, Any]] | None
    owner_id: str | None
    product_surface_id: str | None
    created_at: int
    updated_at: int
    size: int = 0  # bytes of the metadata as compact JSON (`metadata_size`), reckoned once when written


class _RecordLayout:
    """Record's slots on a class that is not frozen (see `new_record`)."""

    __slots__ = Record.__slots__


def new_record(id: str, seq: int, tenant_key: str, user_id: str, organization_id: str | None, type: str,
               name: str, metadata: dict[str, Any], messages: list[dict[str, Any]] | None, owner_id: str | None,
               product_surface_id: str | None, created_at: int, updated_at: int, size: int) -> Record:
    """`Record(...)`, for where many are made at once (a fixture's load): the frozen dataclass's
    `__init__` sets each field through `object.__setattr__`, many times slower than storing a
    slot. Here each field is stored into an object of the same slots, which then becomes a Record
    (a class with the same layout can take its place), as frozen as any other."""
    record = _RecordLayout()
    record.id = id
    record.seq = seq
    record.tenant_key = tenant_key
    record.user_id = user_id
    record.organization_id = organization_id
    record.type = type
    record.name = name
    record.metadata = metadata
    record.messages = messages
    record.owner_id = owner_id
    record.product_surface_id = product_surface_id
    record.created_at = created_at
    record.updated_at = updated_at
    record.size = size
    record.__class__ = Record  # type: ignore[assignment]
    return record  # type: ignore[return-value]


def metadata_schema(metadata: dict[str, Any]) -> dict[str, list[str]]:
    """`{"keys": [...]}`: the metadata's top-level keys, in their order."""
    return {"keys": list(metadata)}


def metadata_size(metadata: dict[str, Any], *, finite: bool = False) -> int:
    """Bytes of the metadata as compact UTF-8 JSON (what size filters and the size limit measure),
    as `json.dumps(ensure_ascii=False, separators=(",", ":"))` writes it. Counted from orjson's
    text (written several times faster) where the two are the same; they differ only where orjson
    refuses (a non-string key, an integer beyond 64 bits, a lone surrogate, a date) or writes a
    float below 1e-4 (`1e-7` for `1e-07`), NaN or Infinity (`null`): there the standard library
    counts. `finite`: the metadata holds no NaN or Infinity (strict JSON's), so a `null` is one."""
    return _size(metadata, _orjson_text(metadata), finite)


def measure_metadata(metadata: dict[str, Any], *, finite: bool = False) -> tuple[int, str | None]:
    """`metadata_size` and `nesting_problem` of the metadata, from one writing of it (a fixture's
    many records): a text with at most MAX_NESTING opening brackets cannot nest deeper, as every
    object and array writes one; only another is walked."""
    text = _orjson_text(metadata)
    size = _size(metadata, text, finite)
    if text is not None and text.count(b"{") + text.count(b"[") <= MAX_NESTING:
        return size, None
    return size, nesting_problem(metadata)


def _orjson_text(metadata: dict[str, Any]) -> bytes | None:
    """orjson's text of the metadata, or None where it refuses."""
    try:
        return orjson.dumps(metadata, option=_ORJSON_AS_JSON)
    except TypeError:
        return None


def _size(metadata: dict[str, Any], text: bytes | None, finite: bool) -> int:
    """The length of orjson's `text` where it is the standard library's, else the standard library's."""
    return len(text) if text is not None and not _may_differ(text, finite) else _standard_size(metadata)


def _may_differ(text: bytes, finite: bool) -> bool:
    """Whether orjson's `text` may not be the standard library's (see `metadata_size`)."""
    return (b"e-" in text and _SMALL_FLOAT_EXPONENT.search(text) is not None) or b"0.0000" in text or (
        not finite and b"null" in text)


def _standard_size(metadata: dict[str, Any]) -> int:
    return len(_COMPACT_JSON.encode(metadata).encode("utf-8"))


# What `json.dumps(ensure_ascii=False, separators=(",", ":"))` writes, without making an encoder a call.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# Types the standard library refuses or writes otherwise go to it (orjson would write them its way).
_ORJSON_AS_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
_SMALL_FLOAT_EXPONENT = re.compile(rb"[0-9]e-")  # or text that looks like one: asked only when `e-` is in the text


def check_metadata_size(metadata: dict[str, Any], whose: str, *, path: str = "metadata", **extra: Any) -> int:
    """The metadata's size (`metadata_size`); 422 if it is over MAX_METADATA_BYTES: the one size
    rule of every write.

    `whose` names the metadata in the message ("record X's"); `extra` goes into the error body.
    """
    size = metadata_size(metadata)
    if size > MAX_METADATA_BYTES:
        raise Unprocessable(
            f"The change would make {whose} metadata {size} bytes, over the {MAX_METADATA_BYTES}-byte limit; "
            "nothing was changed",
            details=[{"path": path, "message": f"{whose} metadata is too large"}],
            **extra,
        )
    return size


def nesting_depth(value: Any) -> int:
    """Levels of objects and arrays in `value` (0 for a scalar), counted without recursion."""
    if type(value) not in _CONTAINERS:
        return 0
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > deepest:
            deepest = level
        for child in (item.values() if type(item) is dict else item):
            if type(child) in _CONTAINERS:
                stack.append((child, level + 1))
    return deepest


_CONTAINERS = (dict, list)  # what JSON's objects and arrays are read as (exact types: the test is per value)


def nesting_problem(value: Any) -> str | None:
    """What is wrong with `value`'s nesting (past MAX_NESTING levels), or None."""
    depth = nesting_depth(value)
    return f"nests {depth} levels deep, past the limit of {MAX_NESTING}" if depth > MAX_NESTING else None


def check_nesting(fields: Any, names: tuple[str, ...] = ("metadata", "messages"), *, path: str = "") -> None:
    """400 naming the limit if any of `fields[names]` nests past MAX_NESTING: the depth rule of every write."""
    if not isinstance(fields, Mapping):
        return
    details = [{"path": path or name, "message": problem} for name in names
               if (problem := nesting_problem(fields.get(name))) is not None]
    if details:
        raise InvalidRequest(f"{details[0]['path']} {details[0]['message']}; nothing was changed", details=details)


def compact(value: Any) -> Any:
    """`view=compact`: every string longer than 100 characters becomes a 100-character preview and `…`."""
    if isinstance(value, str):
        return value if len(value) <= COMPACT_LIMIT else value[:COMPACT_LIMIT] + "…"
    if isinstance(value, dict):
        return {key: compact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [compact(item) for item in value]
    return value


def record_to_json(
    record: Record,
    *,
    compact_view: bool = False,
    include_fields: bool = False,
    with_warnings: bool = False,
) -> dict[str, Any]:
    """A record as the API answers it (every field of the contract's record table).

    `compact_view` shortens long strings in metadata and messages; `include_fields` adds
    `availableFields` (list items); `with_warnings` adds `warnings`/`schemaWarnings`
    (create and update answers).
    """
    metadata = compact(record.metadata) if compact_view else record.metadata
    messages = compact(record.messages) if compact_view else record.messages
    out: dict[str, Any] = {
        "id": record.id,
        "userId": record.user_id,
        "organizationId": record.organization_id,
        "ownerId": record.owner_id,
        "type": record.type,
        "name": record.name,
        "metadata": metadata,
        "messages": messages,
        "productSurfaceId": record.product_surface_id,
        "metadataSchema": metadata_schema(record.metadata),
        "metadataLabels": {},
        "schemaValid": None,
        "createdAt": _wire_timestamp(record.created_at),
        "updatedAt": _wire_timestamp(record.updated_at),
    }
    if include_fields:
        out["availableFields"] = list(record.metadata)
    if with_warnings:
        out["warnings"] = None
        out["schemaWarnings"] = None
    return out


def record_summary_json(record: Record, *, with_type: bool = False) -> dict[str, Any]:
    """The short form some answers list records in (preview samples, uploaded records):
    `id`, `name` and `metadata`, with `type` when asked."""
    out: dict[str, Any] = {"id": record.id}
    if with_type:
        out["type"] = record.type
    out["name"] = record.name
    out["metadata"] = record.metadata
    return out
