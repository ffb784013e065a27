"""The list query's parsing rules and its cursors, without a server."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer

from mock_runtype.model.errors import InvalidRequest
from mock_runtype.model.records import Record
from mock_runtype.model.listing import CURSOR_SALT, CursorPosition, CursorSigner, parse_list_query


def parse(**params):
    return parse_list_query({key: [value] for key, value in params.items()})


def test_defaults_are_newest_first_twenty_a_page():
    query = parse()
    assert (query.limit, query.sort_by, query.descending, query.backward) == (20, "createdAt", True, False)
    assert query.filters_applied == {}


def test_parameters_are_parsed_and_filters_echoed():
    query = parse(limit="5", sort_by="updated_at", sort_order="asc", type="customer",
                  metadata_keys="a, b", min_fields="1", includeCount="true", view="compact", direction="prev")
    assert query.limit == 5 and query.sort_by == "updatedAt" and not query.descending
    assert query.metadata_keys == ["a", "b"] and query.include_count and query.compact and query.backward
    assert query.filters_applied == {"type": "customer", "metadata_keys": ["a", "b"], "min_fields": 1}


@pytest.mark.parametrize("params, path", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"limit": "--5"}, "limit"), ({"limit": "1_0"}, "limit"), ({"limit": " 5"}, "limit"),
    ({"min_fields": "-1"}, "min_fields"), ({"sort_order": "up"}, "sort_order"), ({"view": "tiny"}, "view"),
    ({"type": "x" * 256}, "type"), ({"metadata_keys": ","}, "metadata_keys"), ({"whatever": "1"}, "whatever"),
    ({"includeFields": "true", "include_fields": "banana"}, "include_fields"),
])
def test_bad_parameters_are_named(params, path):
    with pytest.raises(InvalidRequest) as caught:
        parse(**params)
    assert [d["path"] for d in caught.value.details] == [path]


def test_a_parameter_given_twice_is_rejected():
    with pytest.raises(InvalidRequest) as caught:
        parse_list_query({"type": ["a", "b"]})
    assert caught.value.details[0]["message"] == "given more than once"


def test_cursors_round_trip_and_resist_tampering():
    signer = CursorSigner()
    cursor = signer.encode(CursorPosition(key=(1718010930000, 4), offset=19), "abc")
    assert signer.decode(cursor, "abc") == CursorPosition(key=(1718010930000, 4), offset=19)
    with pytest.raises(InvalidRequest):
        signer.decode(cursor, "other-query")
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    with pytest.raises(InvalidRequest):
        signer.decode(tampered, "abc")


@pytest.mark.parametrize("payload", [[5, 0, "abc"], [[1, 2], "3", "abc"], [[1, 2], -1, "abc"], [[1, 2], 1.5, "abc"]])
def test_a_signed_but_malformed_position_is_refused_not_a_crash(payload):
    """A seeded server's key can be derived by anyone who knows the seed: contents are checked too."""
    signer = CursorSigner(lambda: 7)
    forged = URLSafeSerializer("mock-runtype seed 7", salt=CURSOR_SALT).dumps(payload)
    with pytest.raises(InvalidRequest) as caught:
        signer.decode(forged, "abc")
    assert caught.value.details == [{"path": "cursor", "message": "not a cursor this server issued"}]


def test_record_filter_brings_its_type_and_is_echoed():
    query = parse(recordFilter='{"type": "lead", "where": {"field": "n", "op": "gt", "value": 1}}')
    assert query.type == "lead" and query.record_filter is not None
    assert query.filters_applied["recordFilter"]["where"]["op"] == "gt"



def test_contradictory_filters_match_nothing_instead_of_being_refused():
    """The document cannot tie one query parameter to another, so what every filter says holds together."""
    record = Record("r1", 1, "key", "user", None, "lead", "n", {"a": 1, "b": 2}, None, None, None, 0, 0)
    for contradiction in ({"type": "deal", "recordFilter": '{"type": "lead"}'},
                          {"min_fields": "3", "max_fields": "1"}, {"min_size_kb": "2", "max_size_kb": "1"}):
        assert not parse(**contradiction).predicate(0)(record), contradiction


def test_size_type_and_distinct_parameters():
    query = parse(metadata_types="string,array", has_large_fields="false", min_size_kb="0.5", max_size_kb="2",
                  distinct="group")
    assert query.filters_applied == {"metadata_types": ["string", "array"], "has_large_fields": False,
                                     "min_size_kb": 0.5, "max_size_kb": 2.0, "distinct": "group"}
    with pytest.raises(InvalidRequest) as caught:
        parse(metadata_types="date", min_size_kb="3", max_size_kb="1")
    assert [d["path"] for d in caught.value.details] == ["metadata_types"]


def test_an_export_query_refuses_paging():
    with pytest.raises(InvalidRequest) as caught:
        parse_list_query({"limit": ["5"], "cursor": ["c"], "type": ["t"]}, paged=False)
    assert {d["path"] for d in caught.value.details} == {"limit", "cursor"}
