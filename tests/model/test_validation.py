"""The schemas' fast path: valid bodies skip jsonschema, and the answer never changes because of it."""

import pytest

from mock_runtype.model import validation
from mock_runtype.model.errors import InvalidRequest


def test_the_request_schemas_have_a_fast_path():
    for name in ("create-record", "update-record", "fixture", "scenario", "responses/record-list"):
        assert validation._fast_check(name) is not None, name


def test_a_valid_body_passes_without_problems():
    body = {"type": "customer", "name": "Acme", "metadata": {"seats": 3}, "messages": [{"role": "user", "content": "hi"}]}
    assert validation.problems("create-record", body) == []


@pytest.mark.parametrize("body, path", [
    ({"type": "", "name": "Acme"}, "type"),
    ({"type": "customer"}, "name"),
    ({"type": "customer", "name": "Acme", "colour": "red"}, "colour"),
    ({"type": "customer", "name": "Acme", "metadata": []}, "metadata"),
    ({"type": "customer", "name": "Acme", "messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
    ({"type": True, "name": "Acme"}, "type"),
])
def test_what_the_fast_path_rejects_is_named_by_jsonschema(body, path):
    with pytest.raises(InvalidRequest) as raised:
        validation.validate("create-record", body)
    assert path in [detail["path"] for detail in raised.value.details]


def test_a_schema_whose_keywords_the_validators_could_read_differently_gets_no_fast_path():
    documents = {"https://x.invalid/a.json": {"$id": "https://x.invalid/a.json", "enum": [True, 1]}}
    with pytest.raises(validation._NoFastPath):
        validation._inlined(documents["https://x.invalid/a.json"], "https://x.invalid/a.json", documents)
    recursive = {"$id": "https://x.invalid/r.json", "properties": {"child": {"$ref": "#"}}}
    with pytest.raises(validation._NoFastPath):
        validation._inlined(recursive, recursive["$id"], {recursive["$id"]: recursive})
    unknown = {"$id": "https://x.invalid/u.json", "unevaluatedProperties": False}
    with pytest.raises(validation._NoFastPath):
        validation._inlined(unknown, unknown["$id"], {unknown["$id"]: unknown})


def test_refs_to_other_documents_are_inlined():
    definitions = {"$id": "https://x.invalid/d.json", "$defs": {"name": {"type": "string", "maxLength": 3}}}
    schema = {"$id": "https://x.invalid/s.json", "properties": {"name": {"$ref": "d.json#/$defs/name"}}}
    documents = {d["$id"]: d for d in (definitions, schema)}
    assert validation._inlined(schema, schema["$id"], documents) == {"properties": {"name": {"type": "string", "maxLength": 3}}}


def test_unknown_fields_are_taken_out_and_listed_when_ignored():
    from mock_runtype.model.validation import validate

    body = {"type": "t", "name": "n", "id": "x", "colour": "red"}
    ignored: list[str] = []
    validate("create-record", body, ignored)
    assert ignored == ["id", "colour"] and body == {"type": "t", "name": "n"}
    with pytest.raises(InvalidRequest):
        validate("create-record", {"type": "t", "name": "n", "id": "x"})  # no list: refused, as before
