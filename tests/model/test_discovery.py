"""Preview filter, field values and schema discovery over a type's records."""

from __future__ import annotations

from mock_runtype.model.clock import Clock, IdSource
from mock_runtype.model.discovery import discover_schema, field_values, preview_filter
from mock_runtype.model.filters import parse_filter
from mock_runtype.model.store import Store
from mock_runtype.model.tenancy import open_tenant

ACME = open_tenant("rt_test_acme")
NOW = 1_718_010_930_000


def records(*metadatas):
    store = Store(Clock(start_ms=NOW), IdSource(seed=4))
    for index, metadata in enumerate(metadatas):
        store.create(ACME, {"type": "t", "name": f"r{index}", "metadata": metadata})
        store.clock.advance(1)
    return store.of_type(ACME.tenant_key, "t")


def test_preview_counts_every_match_and_samples_the_newest() -> None:
    found = records(*({"n": n} for n in range(8)))
    answer = preview_filter("t", found, parse_filter({"field": "n", "op": "gte", "value": 2}), NOW)
    assert answer["matchedCount"] == 6 and answer["truncated"] is True
    assert [s["name"] for s in answer["samples"]] == ["r7", "r6", "r5", "r4", "r3"]
    assert preview_filter("t", found, None, NOW)["matchedCount"] == 8


def test_field_values_rank_by_count_and_count_list_elements() -> None:
    found = records({"tier": "gold", "tags": ["a", "b", "a"]}, {"tier": "gold", "tags": ["a"]},
                    {"tier": "silver"}, {"tier": None}, {"other": 1}, {"address": {"city": "Oslo"}})
    assert field_values("t", found, "tier", 2) == {
        "type": "t", "field": "tier", "truncated": True,
        "values": [{"value": "gold", "count": 2}, {"value": "silver", "count": 1}],  # ties: by JSON text
    }
    assert {"value": None, "count": 1} in field_values("t", found, "tier", 10)["values"]
    assert field_values("t", found, "tags", 10)["values"] == [{"value": "a", "count": 2}, {"value": "b", "count": 1}]
    assert field_values("t", found, "address.city", 10)["values"] == [{"value": "Oslo", "count": 1}]


def test_schema_reports_types_formats_required_and_examples() -> None:
    found = records({"email": "a@x.io", "seen": "2024-06-01T10:00:00Z", "n": 1, "day": "2024-06-01"},
                    {"email": "b@x.io", "seen": "2024-06-02T10:00:00Z", "n": "two", "day": "2024-06-02"},
                    {"email": "c@x.io", "extra": {"deep": True}})
    schema = discover_schema("t", found, 2, NOW)
    assert (schema["totalRecords"], schema["sampledRecords"]) == (3, 2)
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["email"] == {"name": "email", "type": "string", "required": True, "example": "c@x.io",
                               "description": "Present in 2 of 2 sampled records"}
    assert fields["seen"]["format"] == "date-time" and fields["seen"]["required"] is False
    assert fields["day"]["format"] == "date" and fields["extra"]["type"] == "object"
    whole = {f["name"]: f for f in discover_schema("t", found, 100, NOW)["fields"]}
    assert whole["n"]["types"] == ["number", "string"] and whole["n"]["required"] is False
