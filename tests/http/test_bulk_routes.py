"""Bulk delete, bulk edit and the list's filter parameters over HTTP, raw and through the typed SDK."""

from __future__ import annotations

import json

import pytest
import requests
from runtype import RuntypeClient
from runtype._generated.errors.bad_request_error import BadRequestError
from runtype._generated.errors.unprocessable_entity_error import UnprocessableEntityError

from tests.conftest import url


@pytest.fixture
def api(server, api_key):
    with RuntypeClient(api_key=api_key, base_url=server.url) as client:
        yield client.api.records


def seed(http, *records):
    ids = []
    for record_type, name, metadata in records:
        response = http.post(url(http, "/v1/records"), json={"type": record_type, "name": name, "metadata": metadata})
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return ids


def names(http, **params):
    return sorted(r["name"] for r in http.get(url(http, "/v1/records"), params=params).json()["data"])


def test_bulk_delete_raw_and_typed(http, api, server):
    a, b, c = seed(http, ("t", "a", {}), ("t", "b", {}), ("t", "c", {}))
    server.sandbox.executions.add_result(http.headers["Authorization"][7:], a, {})
    theirs = http.post(url(http, "/v1/records"), json={"type": "t", "name": "x"},
                       headers={"Authorization": "Bearer someone-else"}).json()["id"]
    response = http.post(url(http, "/v1/records/bulk-delete"), json={"ids": [a, theirs]})
    assert response.status_code == 200
    assert response.json() == {"success": True, "deleted": 1, "deletedIds": [a], "notFoundIds": [theirs]}
    assert http.get(url(http, f"/v1/records/{a}/results")).status_code == 404

    typed = api.bulk_delete_records(ids=[b, c, "missing"])
    assert typed.deleted == 2 and typed.deleted_ids == [b, c] and typed.not_found_ids == ["missing"]
    bad = http.post(url(http, "/v1/records/bulk-delete"), json={"ids": []})
    assert bad.status_code == 400 and bad.json()["details"][0]["path"] == "ids"


def test_bulk_edit_raw_and_typed_with_every_selector(http, api):
    a, b, c = seed(http, ("lead", "a", {"stage": "new", "score": 5}), ("lead", "b", {"stage": "won", "score": 9}),
                   ("deal", "c", {"stage": "new"}))
    before = http.get(url(http, f"/v1/records/{c}")).json()
    body = {"recordFilter": {"type": "lead", "where": {"field": "score", "op": "gt", "value": 6}},
            "updates": {"hot": True}, "deleteFields": ["stage"]}
    response = http.post(url(http, "/v1/records/bulk-edit"), json=body)
    assert response.status_code == 200
    assert response.json()["data"] == [{"id": b, "before": {"stage": "won", "score": 9}, "after": {"score": 9, "hot": True}}]
    assert response.json()["recordIds"] == [b]

    typed = api.bulk_edit_records(conditions=[{"field": "stage", "operator": "equals", "value": "new"}],
                                  updates={"checked": 1})
    assert sorted(typed.record_ids) == sorted([a, c]) and all(d.after["checked"] == 1 for d in typed.data)
    assert api.bulk_edit_records(record_ids=[a], updates={"x": 1}).data[0].before["checked"] == 1
    assert len(api.bulk_edit_records(apply_to_all=True, delete_fields=["checked"]).record_ids) == 2
    assert http.get(url(http, f"/v1/records/{c}")).json()["updatedAt"] > before["updatedAt"]


def test_bulk_edit_dry_run_changes_nothing(http, api):
    (record_id,) = seed(http, ("t", "a", {"k": 1}))
    stored = http.get(url(http, f"/v1/records/{record_id}")).json()
    answer = api.bulk_edit_records(apply_to_all=True, updates={"k": 2}, dry_run=True)
    assert answer.data[0].after == {"k": 2} and answer.record_ids == [record_id]
    assert http.get(url(http, f"/v1/records/{record_id}")).json() == stored


def test_bulk_edit_that_fails_half_way_leaves_every_record_unchanged(http, api):
    seed(http, ("t", "small-1", {"k": 1}), ("t", "big", {"blob": "x" * 800_000}), ("t", "small-2", {"k": 2}))
    stored = http.get(url(http, "/v1/records"), params={"limit": 100}).json()["data"]
    body = {"applyToAll": True, "updates": {"note": "y" * 300_000}}
    response = http.post(url(http, "/v1/records/bulk-edit"), json=body)
    assert response.status_code == 422 and "nothing was changed" in response.json()["error"]
    with pytest.raises(UnprocessableEntityError):
        api.bulk_edit_records(apply_to_all=True, updates={"note": "y" * 300_000})
    assert http.get(url(http, "/v1/records"), params={"limit": 100}).json()["data"] == stored


@pytest.mark.parametrize("body, path", [
    ({"updates": {"x": 1}}, ""),
    ({"applyToAll": True, "recordIds": ["a"], "updates": {"x": 1}}, ""),  # a rule of the body as a whole: one selector
    ({"applyToAll": True}, ""),  # and some change
    ({"recordFilter": {"type": "t", "where": {"field": "x", "op": "near", "value": 1}}, "updates": {"x": 1}},
     "recordFilter.where.op"),
    ({"applyToAll": "yes", "updates": {"x": 1}}, "applyToAll"),
    ({"recordFilter": {"where": {"field": "x", "op": "eq", "value": 1}}, "updates": {"x": 2}}, "recordFilter.type"),
    ({"recordFilter": {"op": "and", "conditions": []}, "updates": {"x": 2}}, "recordFilter.type"),
    ({"recordFilter": {"type": None}, "updates": {"x": 2}}, "recordFilter.type"),
])
def test_bad_bulk_edits_are_400_naming_the_part(http, api, body, path):
    response = http.post(url(http, "/v1/records/bulk-edit"), json=body)
    assert response.status_code == 400 and path in [d["path"] for d in response.json()["details"]]


def test_list_takes_record_filter_and_the_remaining_parameters(http, api):
    seed(http, ("t", "a", {"n": 1, "big": "x" * 2000}), ("t", "b", {"n": 2, "group": "g"}),
         ("t", "c", {"n": 3, "group": "g"}), ("u", "d", {"n": 4}))
    record_filter = json.dumps({"type": "t", "where": {"op": "or", "conditions": [
        {"field": "n", "op": "lte", "value": 1}, {"field": "n", "op": "eq", "value": "3"}]}})
    assert names(http, recordFilter=record_filter) == ["a", "c"]
    listed = api.list_records(record_filter=record_filter, include_count="true")
    assert listed.pagination.total_count == 2 and listed.filters_applied["recordFilter"]["type"] == "t"
    assert names(http, type="t", distinct="group") == ["a", "c"]  # the newest per value; no value is one group
    assert names(http, metadata_types="string") == ["a", "b", "c"]
    assert names(http, has_large_fields="true") == ["a"] and names(http, has_large_fields="false") == ["b", "c", "d"]
    assert names(http, min_size_kb="1") == ["a"] and names(http, max_size_kb="0.5") == ["b", "c", "d"]
    bad = http.get(url(http, "/v1/records"), params={"recordFilter": '{"where": {"field": "n", "op": "gt"}}',
                                                    "metadata_types": "colour", "min_size_kb": "-1"})
    assert bad.status_code == 400
    assert {d["path"] for d in bad.json()["details"]} == {"recordFilter.where.value", "metadata_types", "min_size_kb"}
    with pytest.raises(BadRequestError):
        api.list_records(record_filter="{not json")


@pytest.mark.parametrize("method, path", [
    ("post", "/v1/records/bulk-delete"), ("post", "/v1/records/bulk-edit"), ("get", "/v1/records/export"),
    ("post", "/v1/records/upload-csv"), ("get", "/v1/records/field-values"), ("post", "/v1/records/preview-filter"),
    ("get", "/v1/records/schema"), ("get", "/v1/records/x/results"), ("delete", "/v1/records/x/results"),
    ("get", "/v1/records/x/step-results"), ("get", "/v1/records/x/costs"),
])
def test_every_new_endpoint_needs_a_key(server, method, path):
    response = getattr(requests, method)(server.url + path)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"]


def test_another_tenants_record_has_no_results_for_the_caller(http, server):
    theirs = http.post(url(http, "/v1/records"), json={"type": "t", "name": "x"},
                       headers={"Authorization": "Bearer another-tenant"}).json()["id"]
    server.sandbox.executions.add_result("another-tenant", theirs, {"id": "res"})
    assert http.get(url(http, f"/v1/records/{theirs}/results")).status_code == 404
    assert http.delete(url(http, f"/v1/records/{theirs}/results"), json={"resultId": "res"}).status_code == 404
