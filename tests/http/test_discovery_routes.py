"""Field values, preview filter and schema discovery over HTTP, raw and through the typed SDK."""

from __future__ import annotations

import pytest
from runtype import RuntypeClient
from runtype._generated.errors.bad_request_error import BadRequestError

from tests.conftest import url


@pytest.fixture
def api(server, api_key):
    with RuntypeClient(api_key=api_key, base_url=server.url) as client:
        yield client.api.records


@pytest.fixture
def leads(http):
    for name, metadata in [("a", {"stage": "new", "email": "a@x.io", "seen": "2024-06-01T10:00:00Z"}),
                           ("b", {"stage": "won", "email": "b@x.io"}), ("c", {"stage": "new", "email": "c@x.io"})]:
        assert http.post(url(http, "/v1/records"), json={"type": "lead", "name": name, "metadata": metadata}).status_code == 201
    http.post(url(http, "/v1/records"), json={"type": "deal", "name": "d", "metadata": {"stage": "new"}})


def test_field_values_raw_and_typed(http, api, leads):
    response = http.get(url(http, "/v1/records/field-values"), params={"type": "lead", "field": "stage", "limit": "1"})
    assert response.status_code == 200
    assert response.json() == {"type": "lead", "field": "stage", "values": [{"value": "new", "count": 2}], "truncated": True}
    typed = api.get_field_values(type="lead", field="stage")
    assert [(v.value, v.count) for v in typed.values] == [("new", 2), ("won", 1)] and typed.truncated is False
    assert api.get_field_values(type="nobody", field="stage").values == []
    missing = http.get(url(http, "/v1/records/field-values"), params={"type": "lead", "limit": "0"})
    assert missing.status_code == 400 and {d["path"] for d in missing.json()["details"]} == {"field", "limit"}


def test_preview_filter_raw_and_typed(http, api, leads):
    body = {"type": "lead", "where": {"op": "and", "conditions": [{"field": "stage", "op": "eq", "value": "new"}]}}
    response = http.post(url(http, "/v1/records/preview-filter"), json=body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["matchedCount"] == 2 and answer["truncated"] is False and answer["type"] == "lead"
    assert [s["name"] for s in answer["samples"]] == ["c", "a"] and set(answer["samples"][0]) == {"id", "name", "metadata"}
    typed = api.preview_record_filter(type="lead", where={"field": "email", "op": "endsWith", "value": "X.IO"})
    assert typed.matched_count == 3
    bad = http.post(url(http, "/v1/records/preview-filter"),
                    json={"type": "lead", "where": {"op": "and", "conditions": [{"field": "stage", "op": "like"}]}})
    assert bad.status_code == 400 and bad.json()["details"][0]["path"] == "where.conditions[0].op"
    with pytest.raises(BadRequestError):
        api.preview_record_filter(type="")


def test_schema_discovery_raw_and_typed(http, api, leads):
    response = http.get(url(http, "/v1/records/schema"), params={"type": "lead", "sample": "2"})
    assert response.status_code == 200
    answer = response.json()
    assert (answer["totalRecords"], answer["sampledRecords"]) == (3, 2) and answer["sampledAt"].endswith("Z")
    fields = {f["name"]: f for f in answer["fields"]}
    assert fields["email"]["required"] is True and fields["email"]["type"] == "string"
    typed = api.discover_record_schema(type="lead")
    seen = next(f for f in typed.fields if f["name"] == "seen")
    assert seen["format"] == "date-time" and seen["required"] is False and typed.total_records == 3
    assert http.get(url(http, "/v1/records/schema")).status_code == 400
