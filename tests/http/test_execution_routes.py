"""Results, step results, costs and result deletion over HTTP, raw and through the typed SDK."""

from __future__ import annotations

import pytest
from runtype import RuntypeClient
from runtype._generated.errors.not_found_error import NotFoundError

from tests.conftest import url


@pytest.fixture
def api(server, api_key):
    with RuntypeClient(api_key=api_key, base_url=server.url) as client:
        yield client.api.records


@pytest.fixture
def record_id(http, server, api_key):
    record_id = http.post(url(http, "/v1/records"), json={"type": "t", "name": "r"}).json()["id"]
    runs = server.sandbox.executions
    for day, model, cost in [(1, "gpt-4o", "0.10"), (2, "gpt-4o", "0.20"), (3, "claude", "0.05")]:
        runs.add_result(api_key, record_id, {"id": f"res-{day}", "modelUsed": model, "modelCost": cost,
                                             "toolCost": "0", "totalTokens": 100 * day, "flowId": "f1",
                                             "createdAt": f"2024-06-0{day}T00:00:00Z", "executionEngine": "runtime"})
        runs.add_step_result(api_key, record_id, {"stepName": f"step {day}", "stepType": "prompt", "order": day,
                                                  "createdAt": f"2024-06-0{day}T00:00:01Z"})
    return record_id


def test_a_record_without_runs_has_empty_lists_and_zero_costs(http, api):
    record_id = http.post(url(http, "/v1/records"), json={"type": "t", "name": "idle"}).json()["id"]
    assert http.get(url(http, f"/v1/records/{record_id}/results")).json()["data"] == []
    assert api.get_record_step_results(record_id).data == []
    costs = api.get_record_costs(record_id)
    assert costs.total_cost == 0 and costs.execution_count == 0 and costs.model_breakdown == []
    for path in ("results", "step-results", "costs"):
        assert http.get(url(http, f"/v1/records/no-such-record/{path}")).status_code == 404


def test_results_raw_and_typed(http, api, record_id):
    response = http.get(url(http, f"/v1/records/{record_id}/results"), params={"limit": "2", "includeCount": "true"})
    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["data"]] == ["res-3", "res-2"]
    assert body["pagination"] == {"page": 1, "limit": 2, "hasMore": True, "hasPrev": False, "hasNextPage": True,
                                  "hasPrevPage": False, "total": 3, "totalPages": 2}
    typed = api.get_record_results(record_id, page="2", limit="2")
    assert [r.id for r in typed.data] == ["res-1"] and typed.pagination.has_prev and not typed.pagination.has_more
    assert typed.data[0].model_cost == "0.10" and typed.data[0].execution_engine == "runtime"
    ranged = api.get_record_results(record_id, from_="2024-06-02T00:00:00Z", sort_by="totalTokens", sort_order="asc")
    assert [r.id for r in ranged.data] == ["res-2", "res-3"]
    assert http.get(url(http, f"/v1/records/{record_id}/results"), params={"page": "0"}).status_code == 400


def test_step_results_raw_and_typed(http, api, record_id):
    body = http.get(url(http, f"/v1/records/{record_id}/step-results"), params={"limit": "1", "offset": "1"}).json()
    assert [s["stepName"] for s in body["data"]] == ["step 2"]
    assert body["pagination"] == {"limit": 1, "offset": 1, "returned": 1, "hasMore": True}
    typed = api.get_record_step_results(record_id, sort_by="order", sort_order="asc")
    assert [s.step_name for s in typed.data] == ["step 1", "step 2", "step 3"] and typed.data[0].user_id.startswith("user_")


def test_costs_raw_and_typed(http, api, record_id):
    body = http.get(url(http, f"/v1/records/{record_id}/costs")).json()
    assert body["totalCost"] == pytest.approx(0.35) and body["executionCount"] == 3 and body["totalTokens"] == 600
    typed = api.get_record_costs(record_id)
    assert [(m.model, m.count, m.tokens) for m in typed.model_breakdown] == [("gpt-4o", 2, 300), ("claude", 1, 300)]


def test_delete_result_raw_and_typed(http, api, record_id):
    response = http.delete(url(http, f"/v1/records/{record_id}/results"), json={"resultId": "res-1"})
    assert response.status_code == 200 and response.json()["success"] is True
    api.delete_record_result(record_id, result_id="res-2")
    assert [r.id for r in api.get_record_results(record_id).data] == ["res-3"]
    assert http.delete(url(http, f"/v1/records/{record_id}/results"), json={"resultId": "res-1"}).status_code == 404
    assert http.delete(url(http, f"/v1/records/{record_id}/results"), json={}).status_code == 400
    with pytest.raises(NotFoundError):
        api.delete_record_result(record_id, result_id="res-9")
    http.delete(url(http, f"/v1/records/{record_id}"))
    assert http.get(url(http, f"/v1/records/{record_id}/costs")).status_code == 404
