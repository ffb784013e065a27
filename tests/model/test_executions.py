"""Results and step results of a record: defaults, validation, filters, pagination, costs, removal."""

from __future__ import annotations

import pytest

from mock_runtype.model.clock import Clock, IdSource
from mock_runtype.model.errors import Conflict, InvalidRequest, NotFound
from mock_runtype.model.executions import Executions, parse_results_query, parse_step_results_query
from mock_runtype.model.store import Store
from mock_runtype.model.tenancy import open_tenant

ACME = open_tenant("rt_test_acme")
GLOBEX = open_tenant("rt_test_globex")


@pytest.fixture
def runs() -> Executions:
    return Executions(Store(Clock(start_ms=1_718_010_930_000), IdSource(seed=2)))


@pytest.fixture
def record_id(runs: Executions) -> str:
    return runs.store.create(ACME, {"type": "t", "name": "r"}).id


def query(**params) -> dict[str, list[str]]:
    return {key: [str(value)] for key, value in params.items()}


def test_add_result_fills_defaults(runs: Executions, record_id: str) -> None:
    result = runs.add_result(ACME.tenant_key, record_id, {"modelCost": "0.5"})
    assert result["recordId"] == record_id and result["status"] == "completed"
    assert result["createdAt"] == "2024-06-10T09:15:30.000Z" and result["estimatedCost"] == "0.5"
    step = runs.add_step_result(ACME.tenant_key, record_id, {"stepName": "draft", "stepType": "prompt"})
    assert step["userId"] == ACME.user_id and step["recordName"] == "r"


def test_bad_shapes_unknown_records_and_duplicate_ids_are_refused(runs: Executions, record_id: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        runs.add_result(ACME.tenant_key, record_id, {"modelCost": 0.5, "colour": "red"})
    assert {d["path"] for d in caught.value.details} == {"modelCost", "colour"}
    with pytest.raises(InvalidRequest):
        runs.add_step_result(ACME.tenant_key, record_id, {"stepName": "no type"})
    with pytest.raises(NotFound):
        runs.add_result(GLOBEX.tenant_key, record_id, {})
    runs.add_result(ACME.tenant_key, record_id, {"id": "r1"})
    with pytest.raises(Conflict):
        runs.add_result(ACME.tenant_key, record_id, {"id": "r1"})


def test_a_seeded_result_id_already_on_the_record_is_drawn_again(runs: Executions, record_id: str) -> None:
    replay = IdSource(seed=2)
    sequence = [replay.new_id(ACME.tenant_key) for _ in range(3)]  # the record's own id, then the next two
    loaded = runs.add_result(ACME.tenant_key, record_id, {"id": sequence[2]})  # as from a state export
    drawn = [runs.add_result(ACME.tenant_key, record_id, {})["id"] for _ in range(2)]
    assert drawn[0] == sequence[1] and len({loaded["id"], *drawn}) == 3


def test_results_filter_sort_and_page(runs: Executions, record_id: str) -> None:
    for day, status, flow in [(1, "completed", "f1"), (2, "failed", "f1"), (3, "completed", "f2"), (4, "completed", "f1")]:
        runs.add_result(ACME.tenant_key, record_id, {"id": f"r{day}", "status": status, "flowId": flow,
                                                  "createdAt": f"2024-06-0{day}T00:00:00Z"})
    page = runs.results(ACME.tenant_key, record_id, parse_results_query(query(limit=2, includeCount="true")))
    assert [r["id"] for r in page["data"]] == ["r4", "r3"]
    assert page["pagination"] == {"page": 1, "limit": 2, "hasMore": True, "hasPrev": False, "hasNextPage": True,
                                  "hasPrevPage": False, "total": 4, "totalPages": 2}
    window = parse_results_query(query(status="completed", flowId="f1", sortOrder="asc",
                                       **{"from": "2024-06-01T00:00:00Z", "to": "2024-06-04"}))
    assert [r["id"] for r in runs.results(ACME.tenant_key, record_id, window)["data"]] == ["r1", "r4"]
    with pytest.raises(InvalidRequest):
        parse_results_query(query(sortBy="colour", page=0, **{"from": "yesterday"}))


def test_step_results_page_by_offset(runs: Executions, record_id: str) -> None:
    for order in range(5):
        runs.add_step_result(ACME.tenant_key, record_id, {"stepName": f"s{order}", "stepType": "prompt",
                                                       "order": order, "batchExecutionId": "b1" if order else "b0"})
    page = runs.step_results(ACME.tenant_key, record_id,
                             parse_step_results_query(query(sortBy="order", sortOrder="asc", offset=1, limit=2, batchId="b1")))
    assert [s["stepName"] for s in page["data"]] == ["s2", "s3"]
    assert page["pagination"] == {"limit": 2, "offset": 1, "returned": 2, "hasMore": True}


def test_steps_sort_by_the_moment_they_started_whatever_its_offset(runs: Executions, record_id: str) -> None:
    for name, started in [("late", "2024-06-10T12:00:00+02:00"), ("none", None), ("early", "2024-06-10T10:30:00Z")]:
        runs.add_step_result(ACME.tenant_key, record_id, {"stepName": name, "stepType": "prompt", "startedAt": started})
    page = runs.step_results(ACME.tenant_key, record_id, parse_step_results_query(query(sortBy="startedAt", sortOrder="asc")))
    assert [s["stepName"] for s in page["data"]] == ["late", "early", "none"]


def test_a_timestamp_that_only_looks_like_one_is_a_400_naming_it(runs: Executions, record_id: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        runs.add_step_result(ACME.tenant_key, record_id, {"stepName": "s", "stepType": "prompt", "startedAt": "2024-02-30T10:00:00Z"})
    assert caught.value.details == [{"path": "startedAt", "message": "not a valid date-time: day is out of range for month"}]
    with pytest.raises(InvalidRequest):
        runs.add_result(ACME.tenant_key, record_id, {"createdAt": "2024-06-10T25:00:00Z"})
    assert runs.export(ACME.tenant_key) == {"results": [], "stepResults": []}


def test_statuses_sort_as_text_even_when_one_looks_like_a_date(runs: Executions, record_id: str) -> None:
    for status in ("completed", "2024-01-01", "failed"):
        runs.add_result(ACME.tenant_key, record_id, {"id": status, "status": status})
    page = runs.results(ACME.tenant_key, record_id, parse_results_query(query(sortBy="status", sortOrder="asc")))
    assert [r["status"] for r in page["data"]] == ["2024-01-01", "completed", "failed"]


def test_costs_add_up_per_model(runs: Executions, record_id: str) -> None:
    assert runs.costs(ACME.tenant_key, record_id) == {"totalCost": 0.0, "promptTokens": 0, "completionTokens": 0,
                                                   "totalTokens": 0, "executionCount": 0, "modelBreakdown": []}
    runs.add_result(ACME.tenant_key, record_id, {"modelUsed": "gpt-4o", "modelCost": "0.1", "toolCost": "0.02",
                                              "promptTokens": 100, "completionTokens": 20})
    runs.add_result(ACME.tenant_key, record_id, {"modelUsed": "gpt-4o", "modelCost": "0.2", "totalTokens": 50})
    runs.add_result(ACME.tenant_key, record_id, {"estimatedCost": "0.05"})
    costs = runs.costs(ACME.tenant_key, record_id)
    assert costs["totalCost"] == pytest.approx(0.37) and costs["executionCount"] == 3
    assert (costs["promptTokens"], costs["completionTokens"], costs["totalTokens"]) == (100, 20, 170)
    assert costs["modelBreakdown"] == [{"model": "gpt-4o", "cost": pytest.approx(0.32), "tokens": 170, "count": 2},
                                       {"model": "unknown", "cost": 0.05, "tokens": 0, "count": 1}]


def test_results_go_with_their_record_and_can_be_deleted(runs: Executions, record_id: str) -> None:
    kept = runs.store.create(ACME, {"type": "t", "name": "kept"}).id
    first = runs.add_result(ACME.tenant_key, record_id, {})
    runs.add_result(ACME.tenant_key, kept, {})
    assert runs.delete_result(ACME.tenant_key, record_id, first["id"])["id"] == first["id"]
    with pytest.raises(NotFound):
        runs.delete_result(ACME.tenant_key, record_id, first["id"])
    runs.add_step_result(ACME.tenant_key, record_id, {"stepName": "s", "stepType": "prompt"})
    runs.store.delete_many(ACME.tenant_key, [record_id])
    exported = runs.export(ACME.tenant_key)
    assert [r["recordId"] for r in exported["results"]] == [kept] and exported["stepResults"] == []
    runs.clear(ACME.tenant_key)
    assert runs.export(ACME.tenant_key) == {"results": [], "stepResults": []}
