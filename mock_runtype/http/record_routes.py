"""The records endpoints: parse, call the store, shape the answer. No rules live here."""

from __future__ import annotations

from flask import request

from mock_runtype.http.routes import route
from mock_runtype.http.responses import authenticate, ignored, json_object_body, json_response, sandbox
from mock_runtype.model.listing import pagination_json, parse_list_query
from mock_runtype.model.records import record_to_json
from mock_runtype.model.tenancy import DELETE, READ, WRITE
from mock_runtype.model.validation import validate


@route("listRecords")
def list_records():
    tenant = authenticate(READ)
    query = parse_list_query(request.args.to_dict(flat=False), ignored=ignored("query"))
    store = sandbox().store
    page = store.list(tenant.tenant_key, query)
    return json_response({
        "data": [
            record_to_json(r, compact_view=query.compact, include_fields=query.include_fields)
            for r in page.records
        ],
        "pagination": pagination_json(page, query, tenant.tenant_key, store.cursors),
        "filtersApplied": query.filters_applied,
    })


@route("createRecord")
def create_record():
    tenant = authenticate(WRITE)
    body = json_object_body()
    validate("create-record", body, ignored("body"))
    record = sandbox().store.create(tenant, body)
    return json_response(record_to_json(record, with_warnings=True), 201)


@route("getRecord")
def get_record(id: str):
    tenant = authenticate(READ)
    return json_response(record_to_json(sandbox().store.get(tenant.tenant_key, id)))


@route("updateRecord", "patchRecord")
def update_record(id: str):
    tenant = authenticate(WRITE)
    body = json_object_body()
    validate("update-record", body, ignored("body"))
    record = sandbox().store.update(tenant.tenant_key, id, body)
    return json_response(record_to_json(record, with_warnings=True))


@route("deleteRecord")
def delete_record(id: str):
    tenant = authenticate(DELETE)
    record = sandbox().store.delete(tenant.tenant_key, id)
    return json_response({"success": True, "id": record.id, "message": "Record deleted"})
