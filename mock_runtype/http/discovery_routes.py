"""The records endpoints that look into a type: field values, preview filter, schema discovery."""

from __future__ import annotations

from flask import request

from mock_runtype.model.discovery import (discover_schema, field_values, parse_field_values_query,
                                    parse_schema_query, preview_filter)
from mock_runtype.model.filters import parse_filter
from mock_runtype.http.routes import route
from mock_runtype.http.responses import authenticate, ignored, json_object_body, json_response, sandbox
from mock_runtype.model.tenancy import READ
from mock_runtype.model.validation import validate


@route("getFieldValues")
def get_field_values():
    tenant = authenticate(READ)
    record_type, field, limit = parse_field_values_query(request.args.to_dict(flat=False), ignored("query"))
    records = sandbox().store.of_type(tenant.tenant_key, record_type)
    return json_response(field_values(record_type, records, field, limit))


@route("previewFilter")
def preview_record_filter():
    tenant = authenticate(READ)
    body = json_object_body()
    validate("preview-filter", body, ignored("body"))
    where = parse_filter(body["where"], "where") if body.get("where") is not None else None
    records = sandbox().store.of_type(tenant.tenant_key, body["type"])
    return json_response(preview_filter(body["type"], records, where, sandbox().clock.now_ms(tenant.tenant_key)))


@route("discoverSchema")
def discover_record_schema():
    tenant = authenticate(READ)
    record_type, sample = parse_schema_query(request.args.to_dict(flat=False), ignored("query"))
    records = sandbox().store.of_type(tenant.tenant_key, record_type)
    return json_response(discover_schema(record_type, records, sample, sandbox().clock.now_ms(tenant.tenant_key)))
