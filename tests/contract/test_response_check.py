"""The response check as a function: what breaks the document is named, what conforms passes."""

from __future__ import annotations

import json

from mock_runtype.contract.response_check import check_response

RECORD_RULE = "/v1/records/<id>"
RECORD = {
    "id": "0b5e5d1e-7d43-4c55-9b5a-2b1f4f0c8d11", "userId": "user_1", "organizationId": "org_1",
    "ownerId": None, "type": "customer", "name": "Acme", "metadata": {"tier": "gold"}, "messages": None,
    "productSurfaceId": None, "metadataSchema": {"keys": ["tier"]}, "metadataLabels": {},
    "schemaValid": None, "createdAt": "2024-06-10T09:15:30.000Z", "updatedAt": "2024-06-10T09:15:30.000Z",
}


def check(method, rule, status, body, mimetype="application/json"):
    raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    return check_response(method, rule, status, mimetype, raw)


def test_a_conforming_record_passes():
    assert check("GET", RECORD_RULE, 200, RECORD) is None
    assert check("HEAD", RECORD_RULE, 200, RECORD) is None


def test_a_missing_field_and_a_wrong_type_are_named():
    broken = {k: v for k, v in RECORD.items() if k != "name"} | {"schemaValid": "yes"}
    mismatch = check("GET", RECORD_RULE, 200, broken)
    assert {d["path"] for d in mismatch.details} == {"name", "schemaValid"}
    assert "responses/record at name, schemaValid" in mismatch.summary


def test_a_field_the_answer_must_not_carry_is_named():
    mismatch = check("GET", RECORD_RULE, 200, RECORD | {"warnings": None})
    assert [d["path"] for d in mismatch.details] == ["warnings"]


def test_a_timestamp_without_milliseconds_breaks_the_record():
    mismatch = check("GET", RECORD_RULE, 200, RECORD | {"createdAt": "2024-06-10T09:15:30Z"})
    assert [d["path"] for d in mismatch.details] == ["createdAt"]


def test_create_answers_must_carry_the_warnings():
    mismatch = check("POST", "/v1/records", 201, RECORD)
    assert {d["path"] for d in mismatch.details} == {"warnings", "schemaWarnings"}
    assert check("POST", "/v1/records", 201, RECORD | {"warnings": None, "schemaWarnings": None}) is None


def test_an_undocumented_status_is_a_mismatch():
    mismatch = check("POST", "/v1/records", 200, RECORD | {"warnings": None, "schemaWarnings": None})
    assert "not documented for createRecord" in mismatch.summary
    assert "not documented for getRecord" in check("GET", RECORD_RULE, 409, {"error": "x"}).summary


def test_every_error_must_carry_the_error_body():
    assert check("GET", RECORD_RULE, 404, {"error": "Record not found"}) is None
    assert check("GET", None, 404, {"error": "Not found: GET /nope"}) is None
    mismatch = check("GET", None, 404, {"message": "not found"})
    assert {d["path"] for d in mismatch.details} == {"error"}
    detail_without_message = {"error": "bad", "details": [{"path": "name"}]}
    assert check("POST", "/v1/records", 400, detail_without_message).details[0]["path"] == "details[0].message"


def test_media_types_and_bodies_are_checked():
    assert "instead of application/json" in check("GET", RECORD_RULE, 200, b"<html>", "text/html").summary
    assert "not JSON" in check("GET", RECORD_RULE, 200, b"{oops").summary
    assert check("GET", "/v1/records/export", 200, b"id,type\r\n", "text/csv") is None
    assert check("GET", "/v1/records/export", 204, b"", "") is None
    assert "no body" in check("GET", "/v1/records/export", 204, b"x", "").summary
    assert check("GET", "/v1/records/export", 200, None, "text/csv") is None  # streamed: media type only


def test_successes_of_undocumented_routes_are_left_alone():
    assert check("OPTIONS", "/v1/records", 200, b"", "") is None
    assert check("GET", "/__admin/journal", 200, {"anything": True}) is None
