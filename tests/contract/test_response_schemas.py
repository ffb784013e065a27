"""The response schemas agree with the official SDK's typed models (runtype-sdk), field by field.

Every field the SDK reads is in our schema; what the SDK requires we require; what the SDK types
as not nullable we never send as null. (Ours may require more: the sandbox always sends them.)
"""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel
from runtype._generated.records import types as sdk

from mock_runtype.contract.openapi import build_document

COMPONENTS = build_document()["components"]["schemas"]
PAIRS = [
    ("RecordListResponse", sdk.GetV1RecordsResponse),
    ("RecordWrittenResponse", sdk.PostV1RecordsResponse),
    ("RecordResponse", sdk.GetV1RecordsIdResponse),
    ("RecordWrittenResponse", sdk.PutV1RecordsIdResponse),
    ("BulkDeleteResponse", sdk.PostV1RecordsBulkDeleteResponse),
    ("BulkEditResponse", sdk.PostV1RecordsBulkEditResponse),
    ("FieldValuesResponse", sdk.GetV1RecordsFieldValuesResponse),
    ("PreviewFilterResponse", sdk.PostV1RecordsPreviewFilterResponse),
    ("SchemaResponse", sdk.GetV1RecordsSchemaResponse),
    ("UploadCsvResponse", sdk.PostV1RecordsUploadCsvResponse),
    ("CostsResponse", sdk.GetV1RecordsIdCostsResponse),
    ("ResultsResponse", sdk.GetV1RecordsIdResultsResponse),
    ("StepResultsResponse", sdk.GetV1RecordsIdStepResultsResponse),
]


def resolve(schema: dict) -> dict:
    """Follow `$ref`s (and the first `allOf` branch, the base of a variant) to the object schema."""
    while True:
        if "$ref" in schema:
            schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]]
        elif "allOf" in schema:
            schema = schema["allOf"][0]
        else:
            return schema


def nullable(schema: dict) -> bool:
    schema = resolve(schema)
    kinds = schema.get("type")
    if kinds == "null" or isinstance(kinds, list) and "null" in kinds:
        return True
    return None in schema.get("enum", ()) or any(nullable(s) for s in schema.get("anyOf", ()))


def nested_model(annotation) -> tuple[type[BaseModel] | None, bool]:
    """The model inside `annotation` (if any), and whether it sits in a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    for arg in typing.get_args(annotation):
        model, in_list = nested_model(arg)
        if model is not None:
            return model, in_list or typing.get_origin(annotation) in (list, typing.List)
    return None, False


def compare(schema: dict, model: type[BaseModel], where: str) -> list[str]:
    schema = resolve(schema)
    properties, required = schema["properties"], set(schema.get("required", []))
    problems = []
    for name, field in model.model_fields.items():
        wire = field.alias or name
        if wire not in properties:
            problems.append(f"{where}.{wire}: the SDK reads it, the schema lacks it")
            continue
        if field.is_required() and wire not in required:
            problems.append(f"{where}.{wire}: the SDK requires it, the schema does not")
        if field.is_required() and nullable(properties[wire]):
            problems.append(f"{where}.{wire}: the SDK does not accept null, the schema allows it")
        inner, in_list = nested_model(field.annotation)
        if inner is not None:
            target = resolve(properties[wire])
            problems += compare(target["items"] if in_list else target, inner, f"{where}.{wire}")
    return problems


@pytest.mark.parametrize("component, model", PAIRS, ids=[f"{c}-{m.__name__}" for c, m in PAIRS])
def test_the_schema_covers_the_sdk_model(component, model):
    assert compare(COMPONENTS[component], model, component) == []


def test_a_gap_is_reported():
    record = resolve(COMPONENTS["RecordResponse"])
    without_name = {**record, "properties": {k: v for k, v in record["properties"].items() if k != "name"},
                    "required": [k for k in record["required"] if k != "userId"]}
    nullable_id = {**without_name, "properties": {**without_name["properties"], "id": {"type": ["string", "null"]}}}
    assert compare(nullable_id, sdk.GetV1RecordsIdResponse, "Record") == [
        "Record.id: the SDK does not accept null, the schema allows it",
        "Record.name: the SDK reads it, the schema lacks it",
        "Record.userId: the SDK requires it, the schema does not",
    ]
    pagination = resolve(COMPONENTS["RecordListResponse"])["properties"]["pagination"]
    broken_list = {"type": "object", "required": ["data", "pagination"], "properties": {
        "data": {"type": "array", "items": without_name}, "pagination": pagination, "filtersApplied": {}}}
    assert "RecordList.data.name: the SDK reads it, the schema lacks it" in compare(
        broken_list, sdk.GetV1RecordsResponse, "RecordList")
