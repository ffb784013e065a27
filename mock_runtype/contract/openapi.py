"""The OpenAPI 3.1 document of the sandbox, built from the schema files the validator reads.

`build_document()` turns the published operations of the registry
(`mock_runtype.contract.operations`, the table the server routes from) and the schema files into
the document served at `/openapi.json`. Pure Python, no web framework.
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
    components = _components(schemas)
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
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {"MethodNotAllowed": {
                "description": ERROR_MEANINGS[405], "headers": ERROR_HEADERS[405],
                "content": {JSON: {"schema": {"$ref": _ref(ERROR_SCHEMA)}}},
            }},
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "Any non-empty API key; each key is a tenant of its own (`Authorization: <key>` works too)",
            }},
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
                target[:1].upper() + target[1:]: {"operationId": target, "parameters": {"record_id": "$response.body#/id"}}
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
        "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "contentMediaType": CSV,
                     "description": "The CSV: a file part, or its text as a plain field"},
            **_rewrite_refs(fields["properties"], op.body, schemas),
        },
    }
    return {media: {"schema": form} for media in op.body_media}


def _ref(schema_name: str) -> str:
    return f"#/components/schemas/{component_name(schema_name)}"


def _components(schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every schema file and every `$defs` entry as a component, `$ref`s pointing at components."""
    components: dict[str, Any] = {}

    def add(name: str, schema: Any) -> None:
        if name in components:
            raise ValueError(f"two schemas would both be the component {name}")
        components[name] = schema

    for name, document in schemas.items():
        body = {k: v for k, v in document.items() if k not in ("$schema", "$id", "$defs")}
        for def_name, definition in document.get("$defs", {}).items():
            add(_pascal(def_name), _rewrite_refs(definition, name, schemas))
        if set(body) - {"title", "description"}:
            add(component_name(name), _rewrite_refs(body, name, schemas))
    return components


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
