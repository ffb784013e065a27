"""The record's own rules: the size of its metadata, its nesting, and how a record is made."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_runtype.model.records import MAX_NESTING, Record, measure_metadata, metadata_size, nesting_problem, new_record


def standard_size(metadata) -> int:
    return len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5))
def test_the_size_is_what_the_standard_library_writes(metadata):
    """NaN, Infinity, floats below 1e-4 and integers beyond 64 bits among them: where orjson's
    text differs, or it refuses."""
    assert metadata_size(metadata) == standard_size(metadata)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5))
def test_the_size_of_finite_metadata_counts_its_nulls_as_nulls(metadata):
    def finite(value):
        if isinstance(value, float):
            return math.isfinite(value)
        if isinstance(value, dict):
            return all(map(finite, value.values()))
        return all(map(finite, value)) if isinstance(value, list) else True

    if finite(metadata):
        assert metadata_size(metadata, finite=True) == standard_size(metadata)


@pytest.mark.parametrize("metadata", [
    {"tiny": 1e-7, "small": 1.5e-05, "edge": 0.0001, "big": 1e16, "huge": 1.7976931348623157e308, "zero": -0.0},
    {"text": "quote \" backslash \\ controls \x00\x01\x1f\x7f newline \n tab \t é ☃ \U0001f600 \u2028"},
    {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "null": None},
    {"big": 2**64, "small": -(2**63) - 1, "max": 2**64 - 1},
    {"pairs": [("a", 1), ("b", 2)]},  # YAML's !!omap: tuples, written as lists by both
    {1: "a key that is not a string", None: "nor this"},
])
def test_the_size_of_what_orjson_writes_otherwise_or_refuses(metadata):
    assert metadata_size(metadata) == standard_size(metadata)


def test_what_the_standard_library_cannot_write_raises_as_it_does():
    import datetime

    for metadata in ({"day": datetime.date(2024, 6, 1)}, {"lone": "\ud800"}):
        with pytest.raises((TypeError, UnicodeEncodeError)) as by_metadata_size:
            metadata_size(metadata)
        with pytest.raises(type(by_metadata_size.value)):
            standard_size(metadata)


def nested(levels: int) -> dict:
    """An object nesting `levels` levels deep (itself the first), lists and objects in turn."""
    value: object = 1
    for level in range(levels - 1):
        value = [value] if level % 2 else {"k": value}
    return {"top": value}


@pytest.mark.parametrize("metadata", [
    {}, {"a": 1}, nested(MAX_NESTING), nested(MAX_NESTING + 1), nested(100),
    {"text": "[{" * 100},  # brackets in its text, not its structure
    {"wide": [[1]] * 100},  # many arrays, none deep
    {"tiny": 1e-7, "deep": nested(MAX_NESTING + 1)},
])
def test_measuring_metadata_is_its_size_and_its_nesting_problem(metadata):
    assert measure_metadata(metadata) == (metadata_size(metadata), nesting_problem(metadata))
    assert measure_metadata(metadata, finite=True) == (metadata_size(metadata), nesting_problem(metadata))


def test_new_record_makes_the_record_the_dataclass_makes():
    fields = {"id": "r1", "seq": 3, "tenant_key": "k", "user_id": "u", "organization_id": None, "type": "t",
              "name": "n", "metadata": {"a": 1}, "messages": None, "owner_id": "o", "product_surface_id": None,
              "created_at": 10, "updated_at": 11, "size": 7}
    assert list(inspect.signature(new_record).parameters) == [f.name for f in dataclasses.fields(Record)]
    record = new_record(**fields)
    assert type(record) is Record and record == Record(**fields)
    assert dataclasses.replace(record, name="m") == Record(**{**fields, "name": "m"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "m"
