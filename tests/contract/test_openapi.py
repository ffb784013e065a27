"""The OpenAPI document: valid OpenAPI 3.1, and the same table the server routes and parses."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate as validate_openapi

from mock_runtype import cli

from mock_runtype.model import discovery

from mock_runtype.model import executions

from mock_runtype.model import listing
from mock_runtype.model.errors import InvalidRequest
from mock_runtype.http.app import create_app
from mock_runtype.contract.openapi import STORABLE_TEXT, build_document, component_name
from mock_runtype.contract.operations import PUBLISHED, find_operation
from mock_runtype.model.filters import parse_filter
from mock_runtype.model.validation import load_schema_documents, validate


@pytest.fixture(scope="module")
def document():
    return build_document()


def documented_query(method: str, path: str) -> set[str]:
    return {p["name"] for p in find_operation(method, path).parameters if p["in"] == "query"}


def test_the_document_is_valid_openapi_3_1(document):
    validate_openapi(document)
    assert document["openapi"] == "3.1.0"


def test_the_document_has_the_published_operations_and_not_the_control_api(document):
    """The sandbox's own control API (`/__admin`) is no part of the Runtype API it publishes."""
    documented = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert documented == {(op.method, op.path) for op in PUBLISHED}
    assert not any(path.startswith("/__admin") for path in document["paths"])


def test_every_schema_file_is_a_component_and_every_response_schema_is_used(document):
    components = document["components"]["schemas"]
    files = load_schema_documents()
    for name, schema in files.items():
        if set(schema) - {"$schema", "$id", "title", "description", "$defs"}:
            assert component_name(name) in components, name
    used = {answer.schema for op in PUBLISHED for answer in op.answers if answer.schema} | {"responses/error"}
    assert {name for name in files if name.startswith("responses/") and name != "responses/shared"} == used


def test_every_error_status_carries_the_error_body(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)


def test_error_headers_are_documented(document):
    unauthenticated = document["paths"]["/v1/records"]["get"]["responses"]["401"]
    assert unauthenticated["headers"]["WWW-Authenticate"]["required"] is True
    assert "Allow" in document["components"]["responses"]["MethodNotAllowed"]["headers"]


def test_request_bodies_are_the_schemas_the_server_validates_with(document):
    create = document["paths"]["/v1/records"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create == {"$ref": "#/components/schemas/CreateRecordBody"}
    body = document["components"]["schemas"]["CreateRecordBody"]
    name = body["properties"]["name"]  # the shared definition, inlined, with what the body reader adds
    assert {k: v for k, v in name.items() if k != "pattern"} == load_schema_documents()["definitions"]["$defs"]["recordName"]
    assert name["pattern"] == STORABLE_TEXT
    assert "additionalProperties" not in body and "strictContract" in body["description"]  # ignored, reported
    assert document["components"]["schemas"]["RecordName"]["maxLength"] == 500
    upload = document["paths"]["/v1/records/upload-csv"]["post"]["requestBody"]["content"]
    assert set(upload) == {"multipart/form-data", "application/x-www-form-urlencoded"}
    form = upload["multipart/form-data"]["schema"]
    assert form["required"] == ["file"]
    assert set(form["properties"]) == {"file", *load_schema_documents()["upload-csv"]["properties"]}


def test_the_list_parameters_are_those_the_list_parser_knows():
    assert documented_query("get", "/v1/records") == listing.KNOWN_PARAMETERS
    assert documented_query("get", "/v1/records/export") == listing.KNOWN_PARAMETERS - listing.PAGING_PARAMETERS
    limit = next(p for p in find_operation("get", "/v1/records").parameters if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}


@pytest.mark.parametrize("path, parse", [
    ("/v1/records", listing.parse_list_query),
    ("/v1/records/field-values", discovery.parse_field_values_query),
    ("/v1/records/schema", discovery.parse_schema_query),
    ("/v1/records/{id}/results", executions.parse_results_query),
    ("/v1/records/{id}/step-results", executions.parse_step_results_query),
])
def test_each_parser_knows_every_documented_parameter(path, parse):
    params = {name: ["?"] for name in documented_query("get", path)} | {"not_a_parameter": ["1"]}
    with pytest.raises(InvalidRequest) as raised:
        parse(params)
    unknown = [d["path"] for d in raised.value.details if d["message"] == "unknown query parameter"]
    assert unknown == ["not_a_parameter"]


def test_the_server_and_the_cli_publish_the_same_document(document, capsys):
    served = create_app().test_client().get("/openapi.json")
    assert served.status_code == 200 and served.json == document
    assert cli.main(["openapi"]) == 0
    assert json.loads(capsys.readouterr().out) == document


def test_the_filter_language_is_published_but_checked_by_its_parser(document):
    """The document says the filter language; the validator leaves it to model/filters.py, which words problems better."""
    components = document["components"]["schemas"]
    assert components["PreviewFilterBody"]["properties"]["where"] == {"$ref": "#/components/schemas/Where"}
    assert {"Group", "Condition", "LegacyCondition", "RecordFilter"} <= set(components)
    assert "x-checked-by" not in components["Where"]
    with pytest.raises(InvalidRequest) as refused:
        validate("preview-filter", {"type": "t", "where": {"field": "a", "op": "eqq", "value": 1}})
        parse_filter({"field": "a", "op": "eqq", "value": 1})
    assert refused.value.message.startswith("Invalid filter: where.op: unknown op 'eqq'")
