"""The records endpoints that act on many records: bulk delete, bulk edit, CSV export and upload."""

from __future__ import annotations

from flask import Response, request

from mock_runtype.model.bulk import bulk_delete, parse_bulk_edit
from mock_runtype.model.csv_records import export_csv, export_filename, form_field_csv, upload_options
from mock_runtype.model.errors import UnsupportedMediaType
from mock_runtype.http.routes import route
from mock_runtype.http.responses import authenticate, ignored, json_object_body, json_response, sandbox
from mock_runtype.model.listing import parse_list_query
from mock_runtype.model.tenancy import DELETE, READ, WRITE
from mock_runtype.model.validation import validate

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


@route("bulkDeleteRecords")
def bulk_delete_records():
    tenant = authenticate(DELETE)
    body = json_object_body()
    validate("bulk-delete", body, ignored("body"))
    return json_response(bulk_delete(sandbox().store, tenant.tenant_key, body))


@route("bulkEditRecords")
def bulk_edit_records():
    tenant = authenticate(WRITE)
    body = json_object_body()
    validate("bulk-edit", body, ignored("body"))
    return json_response(sandbox().bulk_edit(tenant.tenant_key, parse_bulk_edit(body)))


@route("exportRecords")
def export_records():
    tenant = authenticate(READ)
    query = parse_list_query(request.args.to_dict(flat=False), paged=False, ignored=ignored("query"))
    records = sandbox().store.matching(tenant.tenant_key, query)
    if not records:
        return Response(status=204)
    filename = export_filename(query.type, sandbox().clock.now_ms(tenant.tenant_key))
    return Response(export_csv(records), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@route("uploadCsv")
def upload_csv_records():
    tenant = authenticate(WRITE)
    limit = sandbox().settings.max_upload_bytes
    request.max_content_length = limit  # the upload's own limit, above the JSON body limit
    request.max_form_memory_size = limit  # the SDK's typed client sends the file as a plain field
    if request.mimetype not in FORM_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type must be multipart/form-data with the CSV in 'file' (got '{request.mimetype or 'none'}')")
    # A part whose name cannot be read (an unterminated quote) comes as None: a field named "".
    fields = {key or "": request.form.getlist(key) for key in request.form}
    parts = {key or "": request.files.getlist(key) for key in request.files}
    options = upload_options(fields, parts, ignored("body"))
    validate("upload-csv", options, ignored("body"))
    data = parts["file"][0].read() if "file" in parts else form_field_csv(fields["file"][0])
    return json_response(sandbox().upload_csv(tenant, data, name_column=options.get("nameColumn"),
                                              type_column=options.get("typeColumn"),
                                              type_value=options.get("typeValue")))
