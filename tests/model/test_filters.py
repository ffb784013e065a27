"""The filter language: what matches, what is refused, and where the error points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mock_runtype.model.clock import parse_timestamp
from mock_runtype.model import filters
from mock_runtype.model.errors import InvalidRequest
from mock_runtype.model.filters import (
    MAX_DEPTH,
    MAX_NODES,
    Filter,
    conditions_to_filter,
    parse_filter,
    parse_record_filter,
    parse_record_filter_param,
)
from mock_runtype.model.records import Record

NOW = parse_timestamp("2024-06-10T12:00:00Z")
DAY = 86_400_000
ROOT = Path(__file__).resolve().parents[2]


def record(metadata: dict | None = None, **fields) -> Record:
    """A record with sensible defaults; pass metadata and any column to override."""
    values = {
        "id": "3f1c0a4e-0000-4000-8000-000000000001",
        "seq": 1,
        "tenant_key": "rt_test_key",
        "user_id": "user_1",
        "organization_id": None,
        "type": "lead",
        "name": "Ada Lovelace",
        "metadata": metadata or {},
        "messages": None,
        "owner_id": None,
        "product_surface_id": None,
        "created_at": parse_timestamp("2024-06-01T09:00:00Z"),
        "updated_at": parse_timestamp("2024-06-09T09:00:00Z"),
    }
    values.update(fields)
    return Record(**values)


def cond(field: str, op: str, *value) -> dict:
    """A condition; the value is optional (isSet & co. take none)."""
    return {"field": field, "op": op, **({"value": value[0]} if value else {})}


def matches(where, rec: Record, now_ms: int = NOW) -> bool:
    return parse_filter(where).matches(rec, now_ms)


def error_paths(call, *args) -> list[str]:
    """The paths an InvalidRequest's details name."""
    with pytest.raises(InvalidRequest) as caught:
        call(*args)
    assert caught.value.status == 400
    return [detail["path"] for detail in caught.value.details]


# --- every op, one true and one false case ---------------------------------------------------

LEAD = {
    "status": "open",
    "amount": 250,
    "score": "42",
    "vip": True,
    "archived": "false",
    "email": "Ada@Example.com",
    "tags": ["beta", "vip", 7],
    "seenAt": "2024-06-08T12:00:00Z",
    "address": {"city": "London", "geo": {"lat": 51.5}},
}

OP_CASES = [
    (cond("status", "eq", "open"), True),
    (cond("status", "eq", "Open"), False),  # eq is case-sensitive
    (cond("status", "neq", "won"), True),
    (cond("status", "neq", "open"), False),
    (cond("amount", "gt", 100), True),
    (cond("amount", "gt", 250), False),
    (cond("amount", "gte", 250), True),
    (cond("amount", "gte", 251), False),
    (cond("amount", "lt", 251), True),
    (cond("amount", "lt", 250), False),
    (cond("amount", "lte", 250), True),
    (cond("amount", "lte", 249), False),
    (cond("amount", "between", [200, 300]), True),
    (cond("amount", "between", [250, 250]), True),  # inclusive at both ends
    (cond("amount", "between", [251, 300]), False),
    (cond("amount", "between", [300, 200]), False),  # low > high matches nothing, as SQL BETWEEN
    (cond("amount", "between", [200, "z"]), False),  # bounds of two kinds: nothing lies between them
    (cond("email", "contains", "example"), True),  # case-insensitive
    (cond("email", "contains", "gmail"), False),
    (cond("email", "startsWith", "ada@"), True),
    (cond("email", "startsWith", "bob"), False),
    (cond("email", "endsWith", ".COM"), True),
    (cond("email", "endsWith", ".org"), False),
    (cond("status", "in", ["open", "won"]), True),
    (cond("status", "in", ["lost", "won"]), False),
    (cond("status", "notIn", ["lost", "won"]), True),
    (cond("status", "notIn", ["open"]), False),
    (cond("status", "isSet"), True),
    (cond("phone", "isSet"), False),
    (cond("phone", "isNotSet"), True),
    (cond("status", "isNotSet"), False),
    (cond("vip", "isTrue"), True),
    (cond("vip", "isFalse"), False),
    (cond("archived", "isFalse"), True),  # the string "false" counts as false
    (cond("archived", "isTrue"), False),
    (cond("seenAt", "withinLastDays", 3), True),
    (cond("seenAt", "withinLastDays", 1), False),
    (cond("seenAt", "olderThanDays", 1), True),
    (cond("seenAt", "olderThanDays", 3), False),
]


@pytest.mark.parametrize(("where", "expected"), OP_CASES, ids=[json.dumps(c) for c, _ in OP_CASES])
def test_each_op_on_metadata(where, expected):
    assert matches(where, record(LEAD)) is expected


def test_no_value_ops_ignore_a_value_if_given():
    assert matches(cond("vip", "isTrue", "whatever"), record(LEAD)) is True
    assert matches(cond("status", "isSet", None), record(LEAD)) is True


# --- groups ---------------------------------------------------------------------------------


def test_and_needs_every_condition_or_needs_one():
    rec = record(LEAD)
    both = [cond("status", "eq", "open"), cond("amount", "gt", 1000)]
    assert matches({"op": "and", "conditions": both}, rec) is False
    assert matches({"op": "or", "conditions": both}, rec) is True
    assert matches({"op": "or", "conditions": [cond("status", "eq", "won"), cond("amount", "gt", 1000)]}, rec) is False


def test_groups_nest_three_levels_and_more():
    where = {
        "op": "and",
        "conditions": [
            cond("status", "eq", "open"),
            {
                "op": "or",
                "conditions": [
                    cond("amount", "gt", 1000),
                    {
                        "op": "and",
                        "conditions": [
                            cond("address.city", "eq", "London"),
                            {"op": "or", "conditions": [cond("vip", "isTrue"), cond("score", "gt", 90)]},
                        ],
                    },
                ],
            },
        ],
    }
    assert matches(where, record(LEAD)) is True
    assert matches(where, record({**LEAD, "vip": False})) is False
    assert matches(where, record({**LEAD, "vip": False, "amount": 5000})) is True


def test_an_empty_group_sets_no_condition():
    assert matches({"op": "and", "conditions": []}, record()) is True
    assert matches({"op": "or", "conditions": []}, record()) is True


def test_a_group_of_one_is_that_condition():
    assert matches({"op": "or", "conditions": [cond("status", "eq", "open")]}, record(LEAD)) is True
    assert matches({"op": "or", "conditions": [cond("status", "eq", "won")]}, record(LEAD)) is False


# --- fields ---------------------------------------------------------------------------------


def test_dotted_paths_reach_into_nested_metadata():
    rec = record(LEAD)
    assert matches(cond("address.city", "eq", "London"), rec) is True
    assert matches(cond("address.geo.lat", "gt", 50), rec) is True
    assert matches(cond("address.zip", "isSet"), rec) is False
    assert matches(cond("status.deeper", "isSet"), rec) is False  # "open" is not an object


def test_a_literal_dotted_key_is_tried_before_the_path():
    rec = record({"a.b": "literal", "a": {"b": "nested", "c.d": "inner literal"}})
    assert matches(cond("a.b", "eq", "literal"), rec) is True
    assert matches(cond("a.c.d", "eq", "inner literal"), rec) is True
    assert matches(cond("a.b", "eq", "nested"), record({"a": {"b": "nested"}})) is True


def test_the_records_own_fields_win_over_metadata_keys():
    rec = record({"name": "from metadata", "type": "meta-type"}, name="Ada Lovelace", owner_id="owner_7")
    assert matches(cond("name", "eq", "Ada Lovelace"), rec) is True
    assert matches(cond("name", "eq", "from metadata"), rec) is False
    assert matches(cond("type", "eq", "lead"), rec) is True
    assert matches(cond("ownerId", "eq", "owner_7"), rec) is True
    assert matches(cond("id", "startsWith", "3F1C"), rec) is True


def test_metadata_prefix_names_a_metadata_key_explicitly():
    rec = record({"name": "from metadata", "address": {"city": "London"}})
    assert matches(cond("metadata.name", "eq", "from metadata"), rec) is True
    assert matches(cond("metadata.address.city", "eq", "London"), rec) is True
    assert matches(cond("metadata.name", "eq", "Ada Lovelace"), rec) is False


def test_a_null_owner_is_missing():
    assert matches(cond("ownerId", "isNotSet"), record(owner_id=None)) is True
    assert matches(cond("ownerId", "isSet"), record(owner_id="owner_7")) is True


# --- how values compare -----------------------------------------------------------------------


def test_numbers_and_numeric_strings_compare_numerically():
    assert matches(cond("score", "eq", 42), record({"score": "42"})) is True
    assert matches(cond("score", "eq", "42"), record({"score": 42})) is True
    assert matches(cond("score", "eq", 1), record({"score": "1.0"})) is True
    assert matches(cond("score", "gt", "9"), record({"score": "10"})) is True  # not "10" < "9" as text
    assert matches(cond("score", "lt", 100), record({"score": " 99.5 "})) is True
    assert matches(cond("score", "in", [1, 2, 42]), record({"score": "42"})) is True


def test_integers_too_big_for_a_float_are_numbers_not_a_crash():
    huge = 10**400  # JSON allows it; math.isfinite(huge) raises OverflowError
    assert matches(cond("score", "lt", huge), record({"score": 5})) is True
    assert matches(cond("score", "eq", huge), record({"score": str(huge)})) is True
    assert matches(cond("seenAt", "withinLastDays", huge), record(LEAD)) is True
    assert matches(cond("createdAt", "lt", huge), record()) is True
    assert conditions_to_filter([legacy("score", "equals", huge)]).matches(record({"score": huge}), NOW) is True


def test_long_texts_are_classified_but_not_kept_by_the_cache():
    """The classification cache must not pin the long texts of deleted records (up to 1 MiB each)."""
    text_after_a = parse_filter(cond("notes", "gt", "a"))
    more_than_five = parse_filter(cond("count", "gt", 5))
    is_true = parse_filter(cond("flag", "isTrue"))
    cached_before = filters._classify_short_text.cache_info().currsize
    assert text_after_a.matches(record({"notes": "b" * 10_000}), NOW) is True
    assert more_than_five.matches(record({"count": "9" * 100}), NOW) is True  # still a number
    assert is_true.matches(record({"flag": " " * 100 + "TRUE"}), NOW) is True
    assert filters._classify_short_text.cache_info().currsize == cached_before


def test_a_long_run_of_digits_before_a_letter_is_text_read_in_linear_time():
    """With a backtracking number pattern, 200 kB of digits and an "x" took about ten minutes, under
    the store's lock. The timeout only stops a hang; the fixed pattern answers in milliseconds."""
    code = "from mock_runtype.model.filters import _text_key; print(_text_key('1' * 200_000 + 'x')[0])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                            timeout=30)
    assert result.stdout.strip() == "text"


def test_values_of_different_kinds_never_match_or_order():
    assert matches(cond("score", "gt", 5), record({"score": "abc"})) is False
    assert matches(cond("score", "lt", 5), record({"score": "abc"})) is False
    assert matches(cond("flag", "eq", 1), record({"flag": True})) is False
    assert matches(cond("flag", "eq", "true"), record({"flag": True})) is True
    assert matches(cond("flag", "eq", False), record({"flag": "FALSE"})) is True


def test_text_orders_by_code_point():
    assert matches(cond("grade", "gt", "B"), record({"grade": "C"})) is True
    assert matches(cond("grade", "between", ["A", "B"]), record({"grade": "C"})) is False


def test_booleans_true_false_and_their_strings_only():
    assert matches(cond("x", "isTrue"), record({"x": "TRUE"})) is True
    assert matches(cond("x", "isTrue"), record({"x": 1})) is False
    assert matches(cond("x", "isTrue"), record({"x": "yes"})) is False
    assert matches(cond("x", "isFalse"), record({"x": 0})) is False
    assert matches(cond("x", "isFalse"), record({})) is False


def test_contains_on_a_list_is_membership():
    rec = record(LEAD)
    assert matches(cond("tags", "contains", "vip"), rec) is True
    assert matches(cond("tags", "contains", "vi"), rec) is False  # an element, not a substring
    assert matches(cond("tags", "contains", "7"), rec) is True  # by the eq rule
    assert matches(cond("tags", "in", ["alpha", "beta"]), rec) is True  # any element in the list
    assert matches(cond("tags", "notIn", ["alpha", "beta"]), rec) is False


def test_numbers_and_booleans_match_text_ops_through_their_json_text():
    assert matches(cond("phone", "contains", "555"), record({"phone": 4155550100})) is True
    assert matches(cond("zip", "startsWith", 90), record({"zip": 90210})) is True
    assert matches(cond("flag", "contains", "ru"), record({"flag": True})) is True


def test_objects_match_no_comparison_only_is_set():
    rec = record(LEAD)
    assert matches(cond("address", "contains", "London"), rec) is False
    assert matches(cond("address", "eq", "London"), rec) is False
    assert matches(cond("address", "isSet"), rec) is True


def test_missing_fields_fail_every_test_but_the_negations():
    rec = record({"present": "x", "nothing": None})
    for field in ("absent", "nothing"):
        assert matches(cond(field, "eq", "x"), rec) is False
        assert matches(cond(field, "gt", 0), rec) is False
        assert matches(cond(field, "contains", "x"), rec) is False
        assert matches(cond(field, "in", ["x"]), rec) is False
        assert matches(cond(field, "isSet"), rec) is False
        assert matches(cond(field, "isTrue"), rec) is False
        assert matches(cond(field, "withinLastDays", 1000), rec) is False
        assert matches(cond(field, "olderThanDays", 0), rec) is False
        assert matches(cond(field, "neq", "x"), rec) is True
        assert matches(cond(field, "notIn", ["x"]), rec) is True
        assert matches(cond(field, "isNotSet"), rec) is True


# --- dates ------------------------------------------------------------------------------------


def test_created_and_updated_at_compare_as_instants():
    rec = record()  # created 2024-06-01T09:00Z, updated 2024-06-09T09:00Z
    assert matches(cond("createdAt", "gte", "2024-06-01T09:00:00Z"), rec) is True
    assert matches(cond("createdAt", "gt", "2024-06-01T09:00:00Z"), rec) is False
    assert matches(cond("createdAt", "eq", "2024-06-01T11:00:00+02:00"), rec) is True
    assert matches(cond("createdAt", "lt", parse_timestamp("2024-06-02T00:00:00Z")), rec) is True  # ms
    assert matches(cond("updatedAt", "between", ["2024-06-09", "2024-06-10"]), rec) is True
    assert matches(cond("createdAt", "startsWith", "2024-06-01"), rec) is True  # the wire form
    assert matches(cond("createdAt", "isSet"), rec) is True


def test_within_last_days_and_older_than_days_split_at_now_minus_n_days():
    rec = record(created_at=NOW - 7 * DAY)
    assert matches(cond("createdAt", "withinLastDays", 7), rec) is True  # exactly at the edge
    assert matches(cond("createdAt", "olderThanDays", 7), rec) is False
    assert matches(cond("createdAt", "withinLastDays", 6.5), rec) is False
    assert matches(cond("createdAt", "olderThanDays", 6.5), rec) is True
    assert matches(cond("updatedAt", "withinLastDays", 0), record(updated_at=NOW)) is True


def test_within_last_days_uses_the_given_now():
    rec = record(created_at=NOW - 7 * DAY)
    assert parse_filter(cond("createdAt", "withinLastDays", 7)).matches(rec, NOW + DAY) is False


def test_metadata_date_strings_compare_as_times_against_date_values():
    rec = record({"renewsOn": "2024-07-01", "seenAt": "2024-06-08T14:00:00+02:00", "local": "2024-06-08T12:00:00"})
    assert matches(cond("renewsOn", "gt", "2024-06-30T23:59:59Z"), rec) is True
    assert matches(cond("seenAt", "eq", "2024-06-08T12:00:00.000Z"), rec) is True
    assert matches(cond("local", "eq", "2024-06-08T12:00:00Z"), rec) is True  # no zone reads as UTC
    assert matches(cond("renewsOn", "withinLastDays", 1), rec) is True  # the future counts as recent
    assert matches(cond("renewsOn", "gt", 5), rec) is False  # a date-time and a number do not order


def test_a_metadata_date_exactly_n_days_old_is_within_not_older():
    rec = record({"seenAt": "2024-06-08T12:00:00Z"})  # NOW - 2 days
    assert matches(cond("seenAt", "withinLastDays", 2), rec) is True
    assert matches(cond("seenAt", "olderThanDays", 2), rec) is False


def test_day_ops_need_a_date_time_string_in_metadata():
    assert matches(cond("when", "olderThanDays", 1), record({"when": 1_600_000_000_000})) is False
    assert matches(cond("when", "olderThanDays", 1), record({"when": "last week"})) is False


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "paths"),
    [
        ("status = open", ["where"]),
        (["status"], ["where"]),
        ({}, ["where.field", "where.op"]),
        ({"op": "and", "conditions": [cond("a", "eq", 1), cond("b", "eq", 2), cond("c", "like", "x")]},
         ["where.conditions[2].op"]),
        ({"op": "AND", "conditions": []}, ["where.op"]),
        ({"op": "xor", "conditions": []}, ["where.op"]),
        ({"conditions": []}, ["where.op"]),
        ({"op": "and"}, ["where.conditions"]),
        ({"op": "and", "conditions": {"field": "a"}}, ["where.conditions"]),
        ({"op": "and", "conditions": [], "extra": 1}, ["where.extra"]),
        ({"op": "or", "conditions": [42, None]}, ["where.conditions[0]", "where.conditions[1]"]),
        ({"op": "and", "conditions": [{"op": "eq", "value": 1}]}, ["where.conditions[0].field"]),
        (cond("", "eq", 1), ["where.field"]),
        (cond("  ", "eq", 1), ["where.field"]),
        (cond("metadata.", "eq", 1), ["where.field"]),
        ({"field": 7, "op": "eq", "value": 1}, ["where.field"]),
        ({"field": "a", "value": 1}, ["where.op"]),
        ({"field": "a", "op": 3, "value": 1}, ["where.op"]),
        ({"field": "a", "op": "and", "value": 1}, ["where.op"]),
        ({"field": "a", "op": "eq", "value": 1, "negate": True}, ["where.negate"]),
        (cond("a", "eq"), ["where.value"]),
        (cond("a", "eq", None), ["where.value"]),
        (cond("a", "eq", [1]), ["where.value"]),
        (cond("a", "eq", {"x": 1}), ["where.value"]),
        (cond("a", "gt", True), ["where.value"]),
        (cond("a", "gt", "true"), ["where.value"]),
        (cond("a", "between", [1]), ["where.value"]),
        (cond("a", "between", "1,2"), ["where.value"]),
        (cond("a", "between", [1, None]), ["where.value[1]"]),
        (cond("a", "contains", ["x"]), ["where.value"]),
        (cond("a", "startsWith", True), ["where.value"]),
        (cond("a", "in", "x"), ["where.value"]),
        (cond("a", "notIn", ["x", {"y": 1}]), ["where.value[1]"]),
        (cond("a", "withinLastDays", -1), ["where.value"]),
        (cond("a", "withinLastDays", "7"), ["where.value"]),
        (cond("a", "olderThanDays", float("inf")), ["where.value"]),
        (cond("a", "eq", float("nan")), ["where.value"]),
        (cond("name", "withinLastDays", 7), ["where.op"]),
        (cond("createdAt", "gt", "yesterday"), ["where.value"]),
        (cond("createdAt", "in", ["2024-06-01", "soon"]), ["where.value[1]"]),
    ],
    ids=lambda v: json.dumps(v, default=str)[:60],
)
def test_bad_filters_are_refused_with_the_offending_path(where, paths):
    assert error_paths(parse_filter, where) == paths


def test_every_problem_is_reported_and_named_in_the_message():
    where = {"op": "or", "conditions": [cond("a", "eq", 1), cond("", "eq", 1), cond("b", "nope", 1)]}
    with pytest.raises(InvalidRequest) as caught:
        parse_filter(where)
    assert caught.value.details == [
        {"path": "where.conditions[1].field", "message": "must not be empty"},
        {"path": "where.conditions[2].op", "message": "unknown op 'nope'; expected one of "
         "eq, neq, gt, gte, lt, lte, between, contains, startsWith, endsWith, in, notIn, "
         "isSet, isNotSet, isTrue, isFalse, withinLastDays, olderThanDays"},
    ]
    assert caught.value.message == "Invalid filter: where.conditions[1].field: must not be empty (and 1 more problem)"


def test_a_misspelt_op_gets_a_hint():
    with pytest.raises(InvalidRequest) as caught:
        parse_filter(cond("a", "startswith", "x"))
    assert caught.value.details[0]["message"] == "unknown op 'startswith'; did you mean 'startsWith'?"


def test_nested_paths_name_the_condition_deep_inside():
    where = {"op": "and", "conditions": [cond("a", "isSet"), {"op": "or", "conditions": [cond("b", "in", 3)]}]}
    assert error_paths(parse_filter, where) == ["where.conditions[1].conditions[0].value"]
    assert error_paths(parse_filter, where, "recordFilter.where") == ["recordFilter.where.conditions[1].conditions[0].value"]


# --- limits -----------------------------------------------------------------------------------


def nested(depth: int) -> dict:
    where: dict = cond("a", "eq", 1)
    for _ in range(depth):
        where = {"op": "and", "conditions": [where]}
    return where


def test_groups_may_nest_up_to_the_limit():
    assert matches(nested(MAX_DEPTH), record({"a": 1})) is True


def test_deeper_nesting_is_refused_at_the_first_group_too_deep():
    [path] = error_paths(parse_filter, nested(MAX_DEPTH + 1))
    assert path == "where" + ".conditions[0]" * MAX_DEPTH


def test_a_hostile_ten_thousand_deep_nesting_is_a_clean_error():
    paths = error_paths(parse_filter, nested(10_000))
    assert paths == ["where" + ".conditions[0]" * MAX_DEPTH]


def test_too_many_conditions_are_refused():
    parse_filter({"op": "or", "conditions": [cond("a", "eq", i) for i in range(MAX_NODES - 1)]})
    too_many = {"op": "or", "conditions": [cond("a", "eq", i) for i in range(MAX_NODES)]}
    assert error_paths(parse_filter, too_many) == ["where.conditions"]


def test_the_condition_count_covers_every_group():
    chunk = {"op": "and", "conditions": [cond("a", "eq", i) for i in range(99)]}
    five_chunks = {"op": "or", "conditions": [chunk] * 5}  # 1 + 5 groups + 495 conditions
    assert error_paths(parse_filter, five_chunks) == ["where.conditions[4].conditions"]


def test_huge_in_lists_are_refused():
    assert error_paths(parse_filter, cond("a", "in", list(range(1001)))) == ["where.value"]


# --- the recordFilter query parameter ----------------------------------------------------------


def test_record_filter_param_gives_the_type_and_the_where():
    record_type, record_filter = parse_record_filter_param(
        json.dumps({"type": "lead", "where": {"op": "and", "conditions": [cond("status", "eq", "open")]}})
    )
    assert record_type == "lead"
    assert isinstance(record_filter, Filter)
    assert record_filter.matches(record(LEAD), NOW) is True
    assert record_filter.matches(record({"status": "won"}), NOW) is False


def test_record_filter_param_accepts_a_bare_group_or_condition():
    record_type, record_filter = parse_record_filter_param(json.dumps(cond("status", "eq", "open")))
    assert record_type is None
    assert record_filter.matches(record(LEAD), NOW) is True
    _, group = parse_record_filter_param(json.dumps({"op": "or", "conditions": [cond("vip", "isTrue")]}))
    assert group.matches(record(LEAD), NOW) is True


def test_record_filter_param_parts_are_optional():
    assert parse_record_filter_param("") == (None, None)
    assert parse_record_filter_param("{}") == (None, None)
    assert parse_record_filter_param('{"type": "lead"}') == ("lead", None)
    assert parse_record_filter_param('{"type": null, "where": null}') == (None, None)


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        ("{not json", ["recordFilter"]),
        ('{"where": {"field": "a", "op": "eq", "value": NaN}}', ["recordFilter"]),
        ("[" * 100_000, ["recordFilter"]),
        ('"lead"', ["recordFilter"]),
        ("[]", ["recordFilter"]),
        ('{"type": 5}', ["recordFilter.type"]),
        ('{"type": ""}', ["recordFilter.type"]),
        ('{"kind": "lead"}', ["recordFilter.kind"]),
        ('{"type": "lead", "where": "status=open"}', ["recordFilter.where"]),
        ('{"where": {"op": "and", "conditions": [{"field": "a", "op": "is"}]}}', ["recordFilter.where.conditions[0].op"]),
        ('{"op": "or", "conditions": [{"field": "a"}]}', ["recordFilter.conditions[0].op"]),
    ],
)
def test_record_filter_param_refuses_bad_json_and_bad_shapes(text, paths):
    assert error_paths(parse_record_filter_param, text) == paths


def test_bulk_edit_record_filter_body_is_the_decoded_object():
    record_type, record_filter = parse_record_filter({"where": cond("amount", "gte", 250)})
    assert record_type is None
    assert record_filter.matches(record(LEAD), NOW) is True


# --- bulk edit's legacy conditions ---------------------------------------------------------------


def legacy(field: str, operator: str, value) -> dict:
    return {"field": field, "operator": operator, "value": value}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (legacy("status", "equals", "open"), True),
        (legacy("status", "equals", "OPEN"), False),
        (legacy("status", "equals_ci", "OPEN"), True),
        (legacy("status", "equals_ci", "won"), False),
        (legacy("score", "equals", 42), True),
        (legacy("vip", "equals", True), True),
        (legacy("status", "not_equals", "won"), True),
        (legacy("status", "not_equals", "open"), False),
        (legacy("email", "contains", "EXAMPLE"), True),
        (legacy("email", "contains", "gmail"), False),
        (legacy("email", "not_contains", "gmail"), True),
        (legacy("email", "not_contains", "example"), False),
        (legacy("phone", "not_contains", "555"), True),  # missing: the negation holds
        (legacy("phone", "equals", "555"), False),
    ],
)
def test_legacy_conditions(condition, expected):
    assert conditions_to_filter([condition]).matches(record(LEAD), NOW) is expected


def test_legacy_equals_ci_on_a_date_column_is_equals():
    """An instant has no case: equals_ci takes the same date-time or ms that equals does."""
    rec = record()  # created 2024-06-01T09:00Z
    for value in ("2024-06-01T09:00:00Z", "2024-06-01t11:00:00+02:00", parse_timestamp("2024-06-01T09:00:00Z")):
        assert conditions_to_filter([legacy("createdAt", "equals_ci", value)]).matches(rec, NOW) is True
    assert conditions_to_filter([legacy("createdAt", "equals_ci", "2024-06-02T09:00:00Z")]).matches(rec, NOW) is False


def test_legacy_conditions_are_anded():
    both = conditions_to_filter([legacy("status", "equals", "open"), legacy("amount", "equals", 250)])
    assert both.matches(record(LEAD), NOW) is True
    assert both.matches(record({**LEAD, "amount": 1}), NOW) is False
    assert conditions_to_filter([]).matches(record(), NOW) is True


@pytest.mark.parametrize(
    ("conditions", "paths"),
    [
        ({"field": "a"}, ["conditions"]),
        (["a"], ["conditions[0]"]),
        ([legacy("a", "equals", 1), {"field": "a", "operator": "equals"}], ["conditions[1].value"]),
        ([legacy("a", "like", 1)], ["conditions[0].operator"]),
        ([legacy("a", "eq", 1)], ["conditions[0].operator"]),
        ([{"field": "a", "value": 1}], ["conditions[0].operator"]),
        ([legacy("", "equals", 1)], ["conditions[0].field"]),
        ([legacy("a", "equals", None)], ["conditions[0].value"]),
        ([legacy("a", "equals", ["x"])], ["conditions[0].value"]),
        ([{**legacy("a", "equals", 1), "op": "eq"}], ["conditions[0].op"]),
        ([legacy("createdAt", "equals", "yesterday")], ["conditions[0].value"]),
        ([legacy("createdAt", "equals_ci", "yesterday")], ["conditions[0].value"]),
        ([legacy("a", "equals", 1)] * (MAX_NODES + 1), ["conditions"]),
    ],
)
def test_legacy_conditions_refuse_bad_shapes(conditions, paths):
    assert error_paths(conditions_to_filter, conditions) == paths


def test_legacy_conditions_paths_follow_the_caller():
    assert error_paths(conditions_to_filter, [legacy("a", "nope", 1)], "body.conditions") == ["body.conditions[0].operator"]


# --- the house rule ----------------------------------------------------------------------------


def test_the_filter_language_needs_no_web_framework():
    code = "import sys, mock_runtype.model.filters; print('flask' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "False"


# -- per-value work once per record (issue 13) ------------------------------------------------

LONG = "Straße " + "lorem ipsum dolor " * 40 + "ÉCOLE" + " sit amet" * 30


def test_many_contains_on_a_long_field_find_exactly_the_needles_it_holds():
    """Each answer is the plain case-insensitive `needle in text`, whichever way it was found."""
    assert len(LONG) >= filters.LONG_TEXT
    needles = ("STRASSE", "école", "dolor lorem", "amet", "absent", "ipsum sit", "", "ß")
    held = [needle.casefold() in LONG.casefold() for needle in needles]
    assert held == [True, True, True, True, False, False, True, True]
    rec = record({"notes": LONG})
    conditions = [cond("notes", "contains", needle) for needle in needles]
    for number, condition in enumerate(conditions):
        others = conditions[:number] + conditions[number + 1:]
        # with every other needle beside it in one filter, so all are sought in the one pass
        assert parse_filter({"op": "and", "conditions": [condition, {"op": "or", "conditions": others}]}).matches(rec, NOW) is held[number]
    assert not parse_filter({"op": "and", "conditions": conditions}).matches(rec, NOW)
    assert parse_filter({"op": "and", "conditions": [c for c, h in zip(conditions, held) if h]}).matches(rec, NOW)
    legacy = [{"field": "notes", "operator": "not_contains", "value": "absent"},
              {"field": "notes", "operator": "contains", "value": "ÉCOLE"}]
    assert conditions_to_filter(legacy).matches(rec, NOW)
    assert not conditions_to_filter(legacy + [{"field": "notes", "operator": "not_contains", "value": "amet"}]).matches(rec, NOW)


def test_needles_that_match_everywhere_fall_back_to_one_scan_each_and_stay_right():
    """`a`, `aa`, ... in `aaaa…` would yield a match per position and needle: past the budget the
    needles not yet found are sought one by one."""
    text = "a" * 5_000 + "needle"
    conditions = [cond("notes", "contains", "a" * n) for n in range(1, 60)] + [cond("notes", "contains", "needle"),
                                                                               cond("notes", "contains", "b")]
    rec = record({"notes": text})
    assert parse_filter({"op": "and", "conditions": conditions[:-1]}).matches(rec, NOW)
    assert not parse_filter({"op": "and", "conditions": conditions}).matches(rec, NOW)


def test_one_filter_gives_each_record_its_own_answer():
    """What was worked out for one record is never taken for the next, even an equal-looking one."""
    flt = parse_filter({"op": "or", "conditions": [cond("notes", "contains", "école"), cond("notes", "contains", "zz")]})
    holding, lacking = record({"notes": LONG}), record({"notes": LONG.replace("ÉCOLE", "-----")})
    assert [flt.matches(r, NOW) for r in (holding, lacking, holding, lacking)] == [True, False, True, False]


def test_long_values_are_classified_and_folded_as_short_ones_are():
    number_text = " " * 300 + "42"
    assert matches(cond("n", "eq", 42), record({"n": number_text}))
    assert matches(cond("n", "gt", 41), record({"n": number_text}))
    assert matches(cond("t", "isTrue"), record({"t": "  TRUE " + " " * 300}))
    assert matches({"field": "notes", "op": "startsWith", "value": "strasse"}, record({"notes": LONG}))
    assert matches({"field": "notes", "op": "endsWith", "value": "AMET"}, record({"notes": LONG}))


def test_a_long_list_is_a_set_of_keys_for_contains_and_in():
    items = list(range(40)) + ["x", True, "42", 2.5]
    rec = record({"l": items})
    assert matches(cond("l", "contains", 7), rec) and matches(cond("l", "contains", "7"), rec)
    assert matches(cond("l", "contains", 42), rec) and matches(cond("l", "contains", "true"), rec)
    assert matches(cond("l", "contains", 2.5), rec) and not matches(cond("l", "contains", 99), rec)
    assert matches(cond("l", "in", [99, "x"]), rec) and not matches(cond("l", "in", [99, "y"]), rec)
    assert not matches(cond("l", "notIn", [1]), rec)
    assert not matches(cond("l", "contains", False), rec)  # True is there, and 1 is, but not False


def test_499_contains_conditions_on_450k_characters_take_a_one_pass_search_not_499():
    """The 38 s case of issue 13, for one record: each condition case-folded the whole field again.
    Counted, not timed: the text is folded once and searched once."""
    text = ("lorem ipsum dolor sit amet " * 17_000)[:450_000]
    conditions = [cond("notes", "contains", f"zz{n}qq") for n in range(499)]
    flt = parse_filter({"op": "or", "conditions": conditions})
    folds = []
    original = filters._NeedleScan.found_in

    def counted(self, folded):
        folds.append(len(folded))
        return original(self, folded)

    filters._NeedleScan.found_in = counted
    try:
        assert not flt.matches(record({"notes": text}), NOW)
    finally:
        filters._NeedleScan.found_in = original
    assert folds == [450_000]
