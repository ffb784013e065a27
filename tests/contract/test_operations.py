"""The registry's cost estimates: what each operation expects a request to visit, before it runs."""

from __future__ import annotations

import pytest

from mock_runtype.contract.operations import BODY_BYTES_PER_VISIT, OPERATIONS, YAML_DOCUMENT_WORK, Workload, operation, request_work
from mock_runtype.http.app import create_app
from mock_runtype.http.routes import operation_for
from mock_runtype.model import csv_records, listing


def workload(query=None, body_bytes=0, caller_records=50_000, all_records=200_000):
    return Workload(query or {}, body_bytes, caller_records, lambda: all_records)


def estimate(operation_id, **given):
    return operation(operation_id).estimate(workload(**given))


@pytest.mark.parametrize("operation_id", ["health", "openapi", "createRecord", "getRecord", "updateRecord",
                                          "patchRecord", "deleteRecord", "getRecordCosts", "getRecordResults",
                                          "getRecordStepResults", "deleteRecordResult", "readClock"])
def test_one_record_operations_cost_one_visit_however_many_records_there_are(operation_id):
    assert estimate(operation_id) == 1
    assert estimate(operation_id, caller_records=0, all_records=0) == 1


def test_a_list_page_from_the_index_is_bounded_by_its_limit():
    assert estimate("listRecords") == listing.DEFAULT_LIMIT + 1
    assert estimate("listRecords", query={"type": ["lead"], "limit": ["100"], "sort_by": ["name"]}) == 101
    assert estimate("listRecords", query={"includeCount": ["true"]}) == listing.DEFAULT_LIMIT + 1  # a length
    assert estimate("listRecords", query={"limit": ["50"]}, caller_records=3) == 4


def test_a_limit_the_parser_will_refuse_is_reckoned_as_the_default():
    for limit in ("0", "101", "ten", "", "١٢"):
        assert estimate("listRecords", query={"limit": [limit]}) == listing.DEFAULT_LIMIT + 1


@pytest.mark.parametrize("parameter", ["recordFilter", "search", "min_fields", "name", "distinct", "metadata_types"])
def test_a_filtered_list_may_visit_every_record_of_the_caller(parameter):
    assert estimate("listRecords", query={parameter: ["x"], "limit": ["5"]}) == 50_000
    assert estimate("listRecords", query={parameter: ["x"], "includeCount": ["1"]}, caller_records=7) == 7


@pytest.mark.parametrize("operation_id", ["exportRecords", "getFieldValues", "discoverSchema", "previewFilter",
                                          "bulkEditRecords"])
def test_type_wide_and_bulk_reads_visit_every_record_of_the_caller(operation_id):
    assert estimate(operation_id, query={"type": ["lead"]}) == 50_000
    assert estimate(operation_id, caller_records=0) == 1


def test_work_made_from_a_body_grows_with_its_length():
    assert estimate("bulkDeleteRecords", body_bytes=40_000) == 1_000  # about a thousand ids
    assert estimate("bulkDeleteRecords", body_bytes=10) == 1
    assert estimate("uploadCsv", body_bytes=2_000) == 1_000  # rows of one short cell
    assert estimate("uploadCsv", body_bytes=50_000_000) == csv_records.MAX_ROWS  # refused past it
    assert estimate("loadFixtures", body_bytes=100_000_000) == 5_000_000


@pytest.mark.parametrize("operation_id", ["loadFixtures", "addScenario"])
def test_a_yaml_document_weighs_much_however_short_for_its_aliases(operation_id):
    assert estimate(operation_id, body_bytes=268) == YAML_DOCUMENT_WORK
    assert estimate(operation_id) == 1  # no document: refused at once


def test_the_control_api_state_and_reset_visit_their_scope():
    for operation_id in ("exportState", "reset", "forgetFixtures"):
        assert estimate(operation_id) == 200_000
        assert estimate(operation_id, query={"tenant": ["rt_test_a"]}) == 50_000


def test_every_estimate_is_a_positive_whole_number():
    for op in OPERATIONS:
        for given in ({}, {"caller_records": 0, "all_records": 0}, {"body_bytes": 10**9}):
            cost = op.estimate(workload(**given))
            assert isinstance(cost, int) and cost >= 1, op.operation_id


def test_a_matched_rule_leads_to_its_operation():
    adapter = create_app().url_map.bind("localhost")
    endpoint, arguments = adapter.match("/v1/records/abc", method="PATCH")
    assert operation_for(endpoint) is operation("patchRecord") and arguments == {"id": "abc"}
    endpoint, _ = adapter.match("/v1/records/export", method="HEAD")
    assert operation_for(endpoint).operation_id == "exportRecords"
    endpoint, _ = adapter.match("/__admin/state", method="GET")
    assert operation_for(endpoint).admin and not operation_for(endpoint).published


def test_a_requests_work_counts_its_body_when_reading_it_is_the_larger_part():
    create = operation("createRecord")
    assert request_work(create, workload(body_bytes=10)) == 1
    assert request_work(create, workload(body_bytes=1000 * BODY_BYTES_PER_VISIT)) == 1000
    assert request_work(operation("exportRecords"), workload(body_bytes=0, caller_records=7)) == 7


def test_a_filters_work_counts_its_conditions_and_the_bytes_each_contains_reads():
    """The 38 s case of issue 13: 40 records of a 450k-character field, 499 contains conditions.
    Estimated from the records' path alone it was 40 visits, and it ran on the loop."""
    import json

    conditions = [{"field": "notes", "op": "contains", "value": f"needle-{n}"} for n in range(499)]
    text = json.dumps({"where": {"op": "or", "conditions": conditions}})
    attack = Workload({"recordFilter": [text]}, 0, 40, lambda: 40, caller_bytes=40 * 450_000)
    # 40 visits; 40 × 501 more conditions / 8 (the parameter, `{where}` and the group count too:
    # an upper bound); 18 MB read once / 64; and 499 × 18 MB / 1,000
    assert operation("listRecords").estimate(attack) == 40 + 40 * 501 // 8 + 18_000_000 // 64 + 499 * 18_000_000 // 1000
    plain = Workload({"recordFilter": [json.dumps({"where": conditions[0]})]}, 0, 40, lambda: 40, caller_bytes=40 * 450_000)
    assert operation("listRecords").estimate(plain) < operation("listRecords").estimate(attack) // 30
    body = Workload({}, len(text), 40, lambda: 40, caller_bytes=40 * 450_000,
                    body=json.dumps({"recordFilter": {"where": {"op": "or", "conditions": conditions}}}).encode())
    assert operation("bulkEditRecords").estimate(body) > 9_000_000
    legacy = Workload({}, 0, 40, lambda: 40, caller_bytes=40 * 450_000, body=json.dumps({"conditions": [
        {"field": "notes", "operator": "contains", "value": "x"}] * 100}).encode())
    assert operation("bulkEditRecords").estimate(legacy) > 100 * 18_000_000 // 1000


def test_reads_of_every_record_grow_with_the_bytes_they_read():
    heavy = Workload({"type": ["t"], "field": ["f"]}, 0, 40, lambda: 40, caller_bytes=40 * 450_000)
    for operation_id in ("getFieldValues", "exportRecords"):
        assert operation(operation_id).estimate(heavy) == 40 + 18_000_000 // 64


def test_results_and_the_journal_are_reckoned_from_what_they_hold():
    """Old: one visit each, whatever a record's results or the journal held."""
    runs = Workload({}, 0, 1, lambda: 1, count_caller_runs=lambda: 30_000)
    for operation_id in ("getRecordResults", "getRecordStepResults", "getRecordCosts"):
        assert operation(operation_id).estimate(runs) == 30_000
    journal = Workload({}, 0, 0, lambda: 0, count_journal=lambda: 20_000)
    assert operation("listRequests").estimate(journal) == 20_000 * 16


def test_a_request_path_leads_to_the_operation_the_router_picks():
    from mock_runtype.contract.operations import operation_at

    app = create_app()
    adapter = app.url_map.bind("localhost")
    for method, path in [("GET", "/v1/records"), ("GET", "/v1/records/"), ("POST", "/v1/records"),
                         ("GET", "/v1/records/export"), ("GET", "/v1/records/r1"), ("HEAD", "/v1/records/r1"),
                         ("PATCH", "/v1/records/r1"), ("GET", "/v1/records/r1/costs"), ("DELETE", "/v1/records/r1/results"),
                         ("POST", "/v1/records/upload-csv"), ("DELETE", "/__admin/scenarios/s1"), ("GET", "/health"),
                         ("POST", "/__admin/fixtures"), ("GET", "/__admin/state"), ("GET", "/openapi.json"),
                         ("GET", "/__admin/ui"), ("GET", "/__admin/ui/requests/rows"), ("GET", "/__admin/ui/requests/7"),
                         ("GET", "/__admin/ui/static/console.css")]:
        endpoint, _ = adapter.match(path, method)
        assert operation_at(method, path) is operation(endpoint), (method, path)
    for method, path in [("GET", "/nothing"), ("PUT", "/v1/records"), ("GET", "/v1/records/r1/nothing"),
                         ("OPTIONS", "/v1/records/export"), ("GET", "/v1/records//costs")]:
        assert operation_at(method, path) is None, (method, path)
