"""Looking into a type's records: preview a filter, top values of a field, the metadata's schema.

Pure functions over a type's records (the store's `of_type`, newest first). No web framework.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterable, Mapping

from mock_runtype.model.clock import format_timestamp, parse_timestamp
from mock_runtype.model.filters import Filter, metadata_getter
from mock_runtype.model.json_text import json_type
from mock_runtype.model.pacing import paced
from mock_runtype.model.params import TYPE_MAX_LENGTH, QueryParams
from mock_runtype.model.records import Record, compact, record_summary_json

PREVIEW_SAMPLES = 5
DEFAULT_FIELD_VALUES = 20
MAX_FIELD_VALUES = 500
DEFAULT_SCHEMA_SAMPLE = 100
MAX_SCHEMA_SAMPLE = 1000


def preview_filter(record_type: str, records: Iterable[Record], where: Filter | None, now_ms: int) -> dict[str, Any]:
    """How many of the type's records `where` matches, and the newest few of them."""
    matched = [r for r in paced(records) if where is None or where.matches(r, now_ms)]
    samples = matched[:PREVIEW_SAMPLES]
    return {
        "type": record_type,
        "matchedCount": len(matched),
        "samples": [record_summary_json(r) for r in samples],
        "truncated": len(matched) > len(samples),
    }


def _identity(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def field_values(record_type: str, records: Iterable[Record], field: str, limit: int) -> dict[str, Any]:
    """The most frequent values of metadata `field` among the type's records, with counts.

    A list value counts each of its distinct elements (a tag field yields its tags); a record
    without the field counts nowhere; null counts as the value null. Ties: by the value's JSON text.
    """
    get = metadata_getter(field)
    counts: Counter[str] = Counter()
    values: dict[str, Any] = {}
    for record in paced(records):
        value = get(record.metadata)
        if value is None and not _has_key(record.metadata, field):
            continue
        for item in _distinct_items(value):
            key = _identity(item)
            values.setdefault(key, item)
            counts[key] += 1
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    return {
        "type": record_type,
        "field": field,
        "values": [{"value": values[key], "count": count} for key, count in ranked[:limit]],
        "truncated": len(ranked) > limit,
    }


def _has_key(metadata: dict[str, Any], field: str) -> bool:
    """Whether `field` is present (possibly as null): the literal key, or the last step of a path."""
    if field in metadata:
        return True
    parent, _, last = field.rpartition(".")
    holder = metadata_getter(parent)(metadata) if parent else None
    return isinstance(holder, dict) and last in holder


def _distinct_items(value: Any) -> list[Any]:
    if not isinstance(value, list):
        return [value]
    return list({_identity(item): item for item in value}.values())


def discover_schema(record_type: str, records: list[Record], sample: int, now_ms: int) -> dict[str, Any]:
    """Top-level metadata fields of the type's `sample` newest records, as the schema endpoint answers."""
    sampled = records[:sample]
    seen: dict[str, list[Any]] = {}
    for record in sampled:
        for key, value in record.metadata.items():
            seen.setdefault(key, []).append(value)
    return {
        "type": record_type,
        "totalRecords": len(records),
        "sampledRecords": len(sampled),
        "sampledAt": format_timestamp(now_ms),
        "fields": [_field(name, values, len(sampled)) for name, values in seen.items()],
    }


def _field(name: str, values: list[Any], sampled: int) -> dict[str, Any]:
    present = [value for value in values if value is not None]
    kinds = Counter(json_type(value) for value in present) or Counter({"null": 1})
    kind = kinds.most_common(1)[0][0]
    field: dict[str, Any] = {
        "name": name,
        "type": kind,
        "required": len(present) == sampled,
        "example": compact(present[0]) if present else None,
        "description": f"Present in {len(present)} of {sampled} sampled records",
    }
    if len(kinds) > 1:
        field["types"] = sorted(kinds)
    if kind == "string":
        text_format = _string_format([value for value in present if isinstance(value, str)])
        if text_format:
            field["format"] = text_format
    return field


def _string_format(texts: list[str]) -> str | None:
    """`date-time` when every string is an ISO 8601 date-time, `date` when every one is a date."""
    if all(len(text) == 10 and _is_timestamp(text) for text in texts):
        return "date"
    if all(len(text) > 10 and "T" in text.upper() and _is_timestamp(text) for text in texts):
        return "date-time"
    return None


def _is_timestamp(text: str) -> bool:
    if len(text) < 10 or text[4:5] != "-":
        return False
    try:
        parse_timestamp(text)
    except (ValueError, OverflowError):
        return False
    return True


def parse_field_values_query(params: Mapping[str, list[str]], ignored: list[str] | None = None) -> tuple[str, str, int]:
    """GET /v1/records/field-values: (type, field, limit); type and field are required."""
    args = QueryParams(params, ("type", "field", "limit"), ignored=ignored)
    record_type = args.text("type", TYPE_MAX_LENGTH, required=True)
    field = args.text("field", required=True)
    limit = args.integer("limit", 1, MAX_FIELD_VALUES) or DEFAULT_FIELD_VALUES
    args.finish()
    return record_type, field, limit


def parse_schema_query(params: Mapping[str, list[str]], ignored: list[str] | None = None) -> tuple[str, int]:
    """GET /v1/records/schema: (type, sample size); type is required."""
    args = QueryParams(params, ("type", "sample"), ignored=ignored)
    record_type = args.text("type", TYPE_MAX_LENGTH, required=True)
    sample = args.integer("sample", 1, MAX_SCHEMA_SAMPLE) or DEFAULT_SCHEMA_SAMPLE
    args.finish()
    return record_type, sample
