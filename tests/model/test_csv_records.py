"""CSV export and upload as pure functions: cell typing, quoting, encodings, row-level errors."""

from __future__ import annotations

import codecs

import pytest

from mock_runtype.model.clock import Clock, IdSource
from mock_runtype.model.csv_records import (ABSENT, EXPORT_CHUNK_CHARS, decode_cell, encode_cell, export_csv, form_field_csv,
                                      plan_upload, run_upload, upload_options)
from mock_runtype.model.errors import InvalidRequest
from mock_runtype.model.store import Store
from mock_runtype.model.tenancy import open_tenant

ACME = open_tenant("rt_test_acme")
FRESH = open_tenant("rt_test_fresh")


@pytest.fixture
def store() -> Store:
    return Store(Clock(start_ms=1_718_010_930_000), IdSource(seed=1))


@pytest.mark.parametrize("value", [
    "plain", "", "42", "true", "null", '"quoted"', " 7 ", "[1]", "a,b", 'say "hi"', "line\nbreak",
    "héllo ✓ 日本", 42, 4.5, 1.0, -3, True, False, None, [1, "a"], {"a": {"b": [1, 2]}}, "1e400",
])
def test_every_value_survives_encode_then_decode(value) -> None:
    decoded = decode_cell(encode_cell(value))
    assert decoded == value and type(decoded) is type(value)


def test_cells_are_json_when_they_read_as_json_else_text() -> None:
    assert decode_cell("") is ABSENT
    assert decode_cell("42") == 42 and decode_cell("true") is True and decode_cell("null") is None
    assert decode_cell('{"a": 1}') == {"a": 1}
    assert decode_cell("01234") == "01234"  # not JSON (leading zero): a zip code stays text
    assert decode_cell("NaN") == "NaN" and decode_cell("1e400") == "1e400"
    assert encode_cell("plain") == "plain" and encode_cell("42") == '"42"' and encode_cell("") == '""'


def test_export_quotes_and_round_trips_into_a_fresh_tenant(store: Store) -> None:
    metadata = {"note": 'a, "b"\nc', "city": "Zürich", "n": 3, "flag": False, "tags": ["x"],
                "name": "collides with the name column", "metadata.x": 1, "blank": ""}
    store.create(ACME, {"type": "t", "name": "Ünïcode, ltd", "metadata": metadata})
    store.create(ACME, {"type": "t", "name": "sparse", "metadata": {"n": 1}})
    text = "".join(export_csv(store.records_of(ACME.tenant_key)))
    assert text.startswith("id,type,name,createdAt,updatedAt,note,city,n,flag,tags,metadata.name,metadata.metadata.x,blank\r\n")
    assert '"a, ""b""\nc"' in text

    result = run_upload(store, FRESH, plan_upload(text.encode("utf-8")))
    assert result["created"] == 2 and result["errors"] == 0
    loaded = {r.name: r.metadata for r in store.records_of(FRESH.tenant_key)}
    assert loaded == {"Ünïcode, ltd": metadata, "sparse": {"n": 1}}


def test_export_is_made_in_pieces_of_whole_rows_so_a_large_one_is_never_held_whole(store: Store) -> None:
    for n in range(2000):
        store.create(ACME, {"type": "t", "name": f"record {n}", "metadata": {"n": n, "note": "x" * 50}})
    store.create(ACME, {"type": "t", "name": "long", "metadata": {"note": "y" * (2 * EXPORT_CHUNK_CHARS)}})
    pieces = list(export_csv(store.records_of(ACME.tenant_key)))
    assert len(pieces) > 2 and all(piece.endswith("\r\n") for piece in pieces)
    long_row = max(len(line) for line in "".join(pieces).split("\r\n"))
    assert all(len(piece) < EXPORT_CHUNK_CHARS + long_row for piece in pieces)
    result = run_upload(store, FRESH, plan_upload("".join(pieces).encode("utf-8")))
    assert result["created"] == 2001 and result["errors"] == 0


def test_bom_mixed_line_endings_and_utf16_are_read() -> None:
    text = "name,type,a\r\nx,t,1\ny,t,2\rz,t,3"
    for data in (codecs.BOM_UTF8 + text.encode(), text.encode("utf-16")):
        plan = plan_upload(data)
        assert [(r.number, r.name, r.metadata) for r in plan.rows] == [(2, "x", {"a": 1}), (3, "y", {"a": 2}),
                                                                     (4, "z", {"a": 3})]


@pytest.mark.parametrize("data, message", [
    (b"", "empty"), (b"\xef\xbb\xbf \r\n", "empty"), (b"PK\x03\x04\x00\x00binary", "binary"),
    ("name,type\ncaf\xe9,t\n".encode("latin-1"), "not UTF-8 text: byte 0xE9 on line 2"),
    (b"title,type\nx,t\n", "name column 'name' is not in the header"),
    (b'name,type\n"unterminated,t\n', "not valid CSV"),
    (b"name,type,a,a\nx,t,1,2\n", "more than once"),
    (b"name\nx\n", "No type for the records"),
])
def test_file_level_problems_are_400s(data: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        plan_upload(data)
    assert message in caught.value.message


def test_row_problems_are_reported_by_row_and_do_not_stop_the_others(store: Store) -> None:
    store.create(FRESH, {"type": "t", "name": "taken"})
    data = b"name,type,a\nok,t,1\n,t,2\nlong,t,3,extra\n\nok,t,4\ntaken,t,5\nno type,,6\nlast,t,7\n"
    result = run_upload(store, FRESH, plan_upload(data))
    assert result["created"] == 2 and result["errors"] == 5 and result["success"] is True
    assert result["errorDetails"] == [
        "Row 3: Missing required field 'name'",
        "Row 4: has 4 values but the header has 3 columns",
        "Row 6: duplicate of row 2 (type 't', name 'ok')",
        "Row 7: A record of type 't' named 'taken' already exists",
        "Row 8: Missing required field 'type'",
    ]
    assert result["message"] == "Processed 7 records with 5 errors."
    assert [r["name"] for r in result["records"]] == ["ok", "last"]


def test_type_value_wins_over_the_type_column_and_columns_can_be_renamed() -> None:
    plan = plan_upload(b"title,kind,id,createdAt,x\nA,k1,old-id,2020-01-01,1\n",
                       name_column="title", type_column="kind", type_value="fixed")
    assert [(r.type, r.name, r.metadata) for r in plan.rows] == [("fixed", "A", {"x": 1})]
    plan = plan_upload(b"title,kind\nA,k1\n", name_column="title", type_column="kind")
    assert plan.rows[0].type == "k1"


def test_the_typed_sdk_field_forms_are_understood() -> None:
    assert form_field_csv('"name,type\\nx,t\\n"') == "name,type\nx,t\n"  # JSON string literal
    assert form_field_csv('"bmFtZSx0eXBlCngsdAo="') == b"name,type\nx,t\n"  # bytes, base64-encoded
    assert form_field_csv("name,type\nx,t\n") == "name,type\nx,t\n"  # a plain text field


def test_upload_options_keeps_non_empty_options_and_names_each_form_problem():
    assert upload_options({"nameColumn": ["title"], "typeValue": [""]}, {"file": [object()]}) == {"nameColumn": "title"}
    with pytest.raises(InvalidRequest) as caught:
        upload_options({"extra": ["x"], "typeColumn": ["a", "b"]}, {})
    assert {(d["path"], d["message"]) for d in caught.value.details} == {
        ("extra", "unknown form field"),
        ("typeColumn", "given more than once"),
        ("file", "is required: the CSV as a file part or a form field"),
    }
