"""The records endpoints about flow executions over a record: results, step results, costs."""

from __future__ import annotations

from flask import request

from mock_runtype.model.executions import parse_results_query, parse_step_results_query
from mock_runtype.http.routes import route
from mock_runtype.http.responses import authenticate, ignored, json_object_body, json_response, sandbox
from mock_runtype.model.tenancy import DELETE, READ
from mock_runtype.model.validation import validate


@route("getRecordResults")
def get_record_results(id: str):
    tenant = authenticate(READ)
    window = parse_results_query(request.args.to_dict(flat=False), ignored("query"))
    return json_response(sandbox().executions.results(tenant.tenant_key, id, window))


@route("deleteRecordResult")
def delete_record_result(id: str):
    tenant = authenticate(DELETE)
    body = json_object_body()
    validate("delete-result", body, ignored("body"))
    result = sandbox().executions.delete_result(tenant.tenant_key, id, body["resultId"])
    return json_response({"success": True, "id": result["id"], "message": "Result deleted"})


@route("getRecordStepResults")
def get_record_step_results(id: str):
    tenant = authenticate(READ)
    window = parse_step_results_query(request.args.to_dict(flat=False), ignored("query"))
    return json_response(sandbox().executions.step_results(tenant.tenant_key, id, window))


@route("getRecordCosts")
def get_record_costs(id: str):
    tenant = authenticate(READ)
    return json_response(sandbox().executions.costs(tenant.tenant_key, id))
