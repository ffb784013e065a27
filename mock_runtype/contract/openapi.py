"""The OpenAPI 3.1 document of the sandbox, built from the schema files the validator reads.

`build_document()` turns the published operations of the registry
(`mock_runtype.contract.operations`, the table the server routes from) and the schema files into
the document served at `/openapi.json`. Pure Python, no web framework.

What a request may hold is said as the server enforces it, so that a request valid by the
document is accepted and an invalid one refused (Schemathesis checks both ways): request bodies
are their schema files plus what the body reader checks before them (no NUL and no unpaired
surrogate in any string or key, `parse_json`: a pattern on each declared string), with unknown
top-level fields allowed (they are ignored and reported; `strictContract` refuses them, as the
descriptions say). Request schemas
get the shared definitions inlined, so that the text rule does not reach the answers, which
may echo a query parameter holding a NUL.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from mock_runtype import __version__

from mock_runtype.contract.operations import CSV, ERROR_MEANINGS, ERROR_SCHEMA, JSON, PUBLISHED, Operation
from mock_runtype.model.validation import load_schema_documents

ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}, "description": "Bearer realm"}},
    405: {"Allow": {"required": True, "schema": {"type": "string"}, "description": "The methods the path has"}},
    429: {"Retry-After": {"schema": {"type": "integer", "minimum": 0}, "description": "Seconds to wait"}},
}


# Storable text (`validation.UNSTORABLE_TEXT`): no NUL. Nor an unpaired surrogate, which the
# descriptions say: no UTF-8 text holds one, so a pattern over Unicode scalar values (Rust's regex,
# which Schemathesis checks patterns with) cannot name it.
STORABLE_TEXT = "^[^\\u0000]*$"
# A CSV file: some text besides a byte order mark and blank space, and storable text throughout.
CSV_FILE = "^(?!\ufeff?\\s*$)[^\\u0000]*$"
UNKNOWN_FIELDS = ("Fields besides these are ignored and named in the X-Mock-Runtype-Ignored header "
                  "(with the strictContract setting they are refused with 400). No string anywhere in the body, "
                  "keys, free-form values and ignored fields included, may hold NUL or an unpaired surrogate (400): "
                  "the declared strings say so by pattern, free-form JSON only here (JSON Schema could say it "
                  "only recursively, which Schemathesis' negative mode cannot mutate).")
REQUEST_ONLY_SCHEMAS = ("filter",)  # schema files only requests use: their strings follow the text rule too


def component_name(schema_name: str) -> str:
    """A schema file's component: `create-record` -> `CreateRecordBody`, `responses/record-list` -> `RecordListResponse`."""
    suffix = "Response" if schema_name.startswith("responses/") else "Body"
    return _pascal(schema_name.rsplit("/", 1)[-1]) + suffix


def _pascal(name: str) -> str:
    """`record-list` -> `RecordList`, `recordType` -> `RecordType`."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name))


@lru_cache(maxsize=1)
def published_document() -> dict[str, Any]:
    """The document the server publishes at /openapi.json: built on its first request, not at
    start (it is the same for every server), and kept."""
    return build_document()


def build_document(schemas: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document: every operation, with the schema files as its components."""
    schemas = load_schema_documents() if schemas is None else schemas
    request_bodies = {op.body for op in PUBLISHED if op.body is not None and op.body_media == (JSON,)}
    components = _components(schemas, request_bodies)
    paths: dict[str, dict[str, Any]] = {}
    for op in PUBLISHED:
        paths.setdefault(op.path, {})[op.method] = _operation(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mock-runtype: the Runtype Records API sandbox",
            "version": __version__,
            "description": (
                "A local, stateful sandbox of the Runtype API's Records group. Every error is JSON "
                "(`ErrorResponse`); a method a path does not have is 405 (`MethodNotAllowed`); an unknown path is 404."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"bareKey": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {"MethodNotAllowed": {
                "description": ERROR_MEANINGS[405], "headers": ERROR_HEADERS[405],
                "content": {JSON: {"schema": {"$ref": _ref(ERROR_SCHEMA)}}},
            }},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "Any non-empty API key; in open mode each unknown key is a tenant of its own"},
                "bareKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                            "description": "The key alone, `Authorization: <key>`, as the reference's curl examples send it"},
            },
        },
    }


def _operation(op: Operation, schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [_tag(op.path)]}
    if op.parameters:
        out["parameters"] = list(op.parameters)
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": _body_content(op, schemas)}
    responses = {}
    for status in sorted({a.status for a in op.answers} | set(op.errors)):
        answer = op.answer(status)
        response: dict[str, Any] = {"description": answer.description}
        if answer.media:
            schema = {"$ref": _ref(answer.schema)} if answer.schema else {"type": "string"}
            response["content"] = {answer.media: {"schema": schema}}
        if status in ERROR_HEADERS:
            response["headers"] = ERROR_HEADERS[status]
        if answer.links:
            response["links"] = {
                target[:1].upper() + target[1:]: {"operationId": target, "parameters": {"id": "$response.body#/id"}}
                for target in answer.links
            }
        responses[str(status)] = response
    out["responses"] = responses
    if not op.secured:
        out["security"] = []
    return out


def _tag(path: str) -> str:
    return "records" if path.startswith("/v1/") else "sandbox"


def _body_content(op: Operation, schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if op.body_media == (JSON,):
        return {JSON: {"schema": {"$ref": _ref(op.body)}}}
    fields = schemas[op.body]
    form = {
        "type": "object",
        "required": ["file"],
        "description": "Form fields. " + UNKNOWN_FIELDS,
        "properties": {
            "file": {"type": "string", "contentMediaType": CSV, "minLength": 1, "pattern": CSV_FILE,
                     "description": "The CSV: a file part, or its text as a plain field. Not empty; no NUL. The header "
                                    "must name the name column (and the type column, unless typeValue is given), once "
                                    "each; quoting as RFC 4180; at most 10,000 rows and 500 columns (else 400; "
                                    "docs/behaviour.md#upload-csv lists the rest)"},
            **_storable({"properties": _inline(fields["properties"], op.body, schemas)})["properties"],
        },
    }
    return {media: {"schema": form} for media in op.body_media}


def _ref(schema_name: str) -> str:
    return f"#/components/schemas/{component_name(schema_name)}"


def _components(schemas: dict[str, dict[str, Any]], request_bodies: set[str]) -> dict[str, Any]:
    """Every schema file and every `$defs` entry as a component, `$ref`s pointing at components;
    request bodies (and the schemas only requests use) as the server reads them."""
    components: dict[str, Any] = {}

    def add(name: str, schema: Any) -> None:
        if name in components:
            raise ValueError(f"two schemas would both be the component {name}")
        components[name] = schema

    for name, document in schemas.items():
        body = {k: v for k, v in document.items() if k not in ("$schema", "$id", "$defs")}
        request_only = name in REQUEST_ONLY_SCHEMAS
        for def_name, definition in document.get("$defs", {}).items():
            definition = {k: v for k, v in definition.items() if k != "x-checked-by"}
            add(_pascal(def_name), _storable(_inline(definition, name, schemas)) if request_only
                else _rewrite_refs(definition, name, schemas))
        if name in request_bodies:
            add(component_name(name), _request_body(body, name, schemas))
        elif set(body) - {"title", "description"}:
            add(component_name(name), _rewrite_refs(body, name, schemas))
    return components


def _request_body(body: dict[str, Any], owner: str, schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A body schema as the server reads it: unknown top-level fields allowed (ignored and
    reported), every string storable text."""
    schema = {key: value for key, value in _inline(body, owner, schemas).items() if key != "additionalProperties"}
    schema["description"] = " ".join(filter(None, [schema.get("description"), UNKNOWN_FIELDS]))
    return _storable(schema)


def _inline(value: Any, owner: str, schemas: dict[str, dict[str, Any]]) -> Any:
    """`value` with `$ref`s to shared definitions replaced by copies of them (other `$ref`s
    become component refs), so that a request schema can say more than the answers' schemas."""
    if isinstance(value, list):
        return [_inline(item, owner, schemas) for item in value]
    if not isinstance(value, dict):
        return value
    ref = value.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#/components/"):
        target, _, pointer = ref.partition("#")
        target_name = _resolve(owner, target) if target else owner
        if target_name not in REQUEST_ONLY_SCHEMAS and pointer.startswith("/$defs/"):
            definition = schemas[target_name]["$defs"][pointer.rsplit("/", 1)[-1]]
            siblings = {key: item for key, item in value.items() if key != "$ref"}
            return {**_inline(definition, target_name, schemas), **_inline(siblings, owner, schemas)}
    out = {key: _inline(item, owner, schemas) for key, item in value.items()}
    return _rewrite_refs(out, owner, schemas) if "$ref" in out else out


def _storable(schema: Any) -> Any:
    """The schema with every declared string (values and keys) limited to storable text."""
    if not isinstance(schema, dict) or "$ref" in schema:
        return schema
    out = dict(schema)
    for key in ("properties", "patternProperties"):
        if key in out:
            out[key] = {name: _storable(sub) for name, sub in out[key].items()}
    for key in ("items", "additionalProperties", "then", "else"):  # not `not` and `if`: they only test
        if isinstance(out.get(key), dict):
            out[key] = _storable(out[key])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in out:
            out[key] = [_storable(sub) for sub in out[key]]
    types = out.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "string" in types and "pattern" not in out and "enum" not in out and "const" not in out:
        out["pattern"] = STORABLE_TEXT
    if "object" in types:
        names = out.get("propertyNames", {})
        out["propertyNames"] = names if "pattern" in names else {**names, "pattern": STORABLE_TEXT}
    return out


def _rewrite_refs(value: Any, owner: str, schemas: dict[str, dict[str, Any]]) -> Any:
    """Turn `other.json#/$defs/x`, `#/$defs/x` and `other.json` (relative to `owner`) into component refs."""
    if isinstance(value, list):
        return [_rewrite_refs(item, owner, schemas) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _rewrite_refs(item, owner, schemas) for key, item in value.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#/components/"):
        target, _, pointer = ref.partition("#")
        target_name = _resolve(owner, target) if target else owner
        if target_name not in schemas:
            raise ValueError(f"{owner}: $ref to unknown schema {ref}")
        if pointer:
            out["$ref"] = "#/components/schemas/" + _pascal(pointer.rsplit("/", 1)[-1])
        else:
            out["$ref"] = _ref(target_name)
    return out


def _resolve(owner: str, target: str) -> str:
    """`../definitions.json` seen from `responses/shared` -> `definitions`."""
    parts = owner.split("/")[:-1]
    for step in target.removesuffix(".json").split("/"):
        if step == "..":
            parts.pop()
        elif step != ".":
            parts.append(step)
    return "/".join(parts)
