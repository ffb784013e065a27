"""Bodies checked against the JSON Schemas in `schemas/` (Draft 2020-12).

The schema files are loaded once, each named by its path under `schemas/` without `.json`
(`create-record`, `responses/record`). `validate(name, body)` raises InvalidRequest whose details
name every offending field by its path (`metadata`, `messages[0].role`); `problems(name, value)`
returns those details instead (the response check uses it).

Valid input, the common case, takes a fast path: each schema, its `$ref`s inlined, is compiled to
Python by fastjsonschema (about 1 µs a body instead of about 170 µs through jsonschema's
reference resolution; see `bench/micro.py`). Only what it rejects goes through jsonschema, which
alone decides and names the problems. A schema using a keyword outside the set both libraries
treat alike gets no fast path, so the fast path can only be stricter, never more lenient.

Both are prepared per schema on its first use, and the libraries imported then: a server starts
(and answers /health) without paying for schemas nobody has sent yet.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urljoin

from mock_runtype.model.errors import InvalidRequest


def schemas_dir() -> Path:
    """`schemas/` of the source tree, or its copy inside an installed wheel."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "schemas"
    return installed if installed.is_dir() else package.parent / "schemas"


def load_schema_documents() -> dict[str, dict[str, Any]]:
    """Every schema file (request bodies, `responses/...`) by its path without `.json`."""
    root = schemas_dir()
    return {
        path.relative_to(root).with_suffix("").as_posix(): json.loads(path.read_text("utf-8"))
        for path in sorted(root.rglob("*.json"))
    }


@lru_cache(maxsize=1)
def _documents() -> dict[str, dict[str, Any]]:
    """The schema files, read once (the validators' own copy). A definition marked `x-checked-by`
    (the filter language) accepts anything here, as does each `$ref` to one: its own parser checks
    it and words its problems."""
    documents = load_schema_documents()
    skipped = {f"{document['$id']}#/$defs/{name}" for document in documents.values()
               for name, definition in document.get("$defs", {}).items() if "x-checked-by" in definition}
    # Each `$ref` to one becomes `{}` itself: a ref costs a lookup per instance (per item of a list).
    return {name: _skipping(document, document["$id"], skipped) for name, document in documents.items()}


def _skipping(node: Any, base: str, skipped: set[str]) -> Any:
    if isinstance(node, list):
        return [_skipping(item, base, skipped) for item in node]
    if not isinstance(node, dict):
        return node
    if "x-checked-by" in node or (isinstance(node.get("$ref"), str) and urljoin(base, node["$ref"]) in skipped):
        return {}
    out = {key: _skipping(value, base, skipped) for key, value in node.items()}
    if out.get("items") == {}:
        del out["items"]  # the same, without a descent into each item
    return out


@lru_cache(maxsize=1)
def _registry() -> Any:
    """jsonschema's registry of every schema file, by `$id`, so that `$ref`s between them resolve."""
    from referencing import Registry, Resource

    return Registry().with_resources((doc["$id"], Resource.from_contents(doc)) for doc in _documents().values())


@lru_cache(maxsize=None)
def _validator(schema_name: str) -> Any:
    """The jsonschema Draft202012Validator of one schema (it words the problems)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_documents()[schema_name], registry=_registry())


# Keywords that draft 2020-12 (jsonschema) and draft 7 (fastjsonschema) read the same way.
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties"})
_SUBSCHEMAS = frozenset({"items", "not", "additionalProperties", "propertyNames", "if", "then", "else", "contains"})
_SUBSCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf"})
_ASSERTIONS = frozenset({
    "type", "enum", "const", "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
    "required", "format",
})
_IGNORED = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default",
                      "deprecated", "readOnly", "writeOnly"})


class _NoFastPath(Exception):
    """The schema uses something the fast path does not treat exactly as jsonschema does."""


def _inlined(node: Any, base: str, documents: dict[str, dict[str, Any]], seen: tuple[str, ...] = ()) -> Any:
    """`node` with every `$ref` replaced by its target, and only keywords both validators share."""
    if isinstance(node, bool):
        return node
    if not isinstance(node, dict):
        raise _NoFastPath("not a schema")
    if "$ref" in node:
        if len(node) > 1 and set(node) - _IGNORED - {"$ref"}:
            raise _NoFastPath("$ref beside other keywords")
        url = urljoin(base, node["$ref"])
        if url in seen:
            raise _NoFastPath("recursive $ref")
        address, _, pointer = url.partition("#")
        target: Any = documents[address]
        for part in filter(None, pointer.split("/")):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return _inlined(target, address, documents, (*seen, url))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SUBSCHEMA_MAPS:
            out[key] = {name: _inlined(sub, base, documents, seen) for name, sub in value.items()}
        elif key in _SUBSCHEMAS:
            out[key] = _inlined(value, base, documents, seen)
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [_inlined(sub, base, documents, seen) for sub in value]
        elif key in ("enum", "const") and not all(isinstance(v, str) or v is None for v in (value if key == "enum" else [value])):
            raise _NoFastPath("enum or const beyond strings (Python's 1 == True)")
        elif key in _ASSERTIONS:
            out[key] = value
        elif key not in _IGNORED and not key.startswith("x-"):
            raise _NoFastPath(f"keyword {key}")
    return out


@lru_cache(maxsize=None)
def _fast_check(schema_name: str) -> Callable[[Any], bool] | None:
    """One schema compiled by fastjsonschema: `passes(instance)` is True when it is surely valid
    (None: the schema has no fast path)."""
    import fastjsonschema

    documents = _documents()
    doc = documents[schema_name]
    try:
        schema = _inlined(doc, doc["$id"], {d["$id"]: d for d in documents.values()})
        check = fastjsonschema.compile(schema, use_default=False, detailed_exceptions=False)
    except (_NoFastPath, fastjsonschema.JsonSchemaDefinitionException, KeyError, RecursionError):
        return None
    rejected = (fastjsonschema.JsonSchemaValueException, RecursionError)

    def passes(instance: Any) -> bool:
        try:
            check(instance)
        except rejected:
            return False
        return True

    return passes


# What Postgres JSONB refuses in text, and a UTF-8 response cannot carry: NUL and lone surrogates.
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


def unstorable_text_path(value: Any) -> str | None:
    """The path of the first string (key or value) holding NUL or a lone surrogate, if any."""
    return next((format_path(parts) for parts in unstorable_text_paths(value)), None)


def unstorable_text_paths(value: Any) -> Iterator[tuple[Any, ...]]:
    """The path (its keys and indexes) of each string holding NUL or a lone surrogate; a key's
    is its object's. Without recursion; a key that is not a string (YAML's) holds no text."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if UNSTORABLE_TEXT.search(item):
                yield path
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and UNSTORABLE_TEXT.search(key):
                    yield path
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(item))


def format_path(parts: Any) -> str:
    """`["messages", 0, "role"]` -> `"messages[0].role"`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def problems(schema_name: str, instance: Any) -> list[dict[str, str]]:
    """`[{"path", "message"}]` for every field of `instance` that breaks the schema (empty when none)."""
    return [{"path": format_path(path), "message": message} for path, message in schema_problems(schema_name, instance)]


def describe(details: list[dict[str, str]]) -> str:
    """The offending fields of `details`, once each: `"name, messages[0].role"`."""
    return ", ".join(dict.fromkeys(d["path"] or "(body)" for d in details))


UNKNOWN_IGNORED = "unknown field, ignored (the others refuse the request)"


def validate(schema_name: str, instance: Any, ignored: list[str] | None = None) -> None:
    """Raise InvalidRequest naming every field of `instance` that breaks the schema.

    With an `ignored` list, fields the schema does not know (`additionalProperties: false`) are
    taken out of `instance`, their paths added to the list, instead of refused; what is left
    must still pass; when it does not, the answer names the unknown fields too (a typo of a
    required field is the likely cause).
    """
    dropped = drop_unknown_fields(schema_name, instance) if ignored is not None else []
    if ignored is not None:
        ignored.extend(dropped)
    details = problems(schema_name, instance)
    if details:
        whole = [d["message"] for d in details if not d["path"]]  # a rule of the body as a whole
        message = f"Validation failed: {describe(details)}" + (f": {whole[0]}" if whole else "")
        raise InvalidRequest(message, details=details + [{"path": path, "message": UNKNOWN_IGNORED} for path in dropped])


def drop_unknown_fields(schema_name: str, instance: Any) -> list[str]:
    """Take the top-level fields the schema does not declare out of `instance` (in place); their
    names. Deeper objects that refuse unknown keys (a `recordFilter`) stay strict."""
    passes = _fast_check(schema_name)
    if passes is not None and passes(instance):
        return []
    declared = _documents()[schema_name].get("properties", {})
    if _documents()[schema_name].get("additionalProperties") is not False or not isinstance(instance, dict):
        return []
    unknown = [key for key in instance if key not in declared]
    for key in unknown:
        del instance[key]
    return unknown


def schema_problems(schema_name: str, instance: Any) -> list[tuple[list[Any], str]]:
    """Every way `instance` breaks the schema, as (the offending field's path as a list, message)."""
    passes = _fast_check(schema_name)
    if passes is not None and passes(instance):
        return []
    errors = sorted(_validator(schema_name).iter_errors(instance), key=lambda e: (list(map(str, e.path)), e.message))
    return [_problem(error) for error in errors]


def _problem(error: Any) -> tuple[list[Any], str]:
    path = list(error.path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return [*path, missing], f"'{missing}' is required"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return ([*path, extra[0]] if len(extra) == 1 else path), f"unknown field{'s' if len(extra) != 1 else ''}: {', '.join(extra)}"
    return path, _short_message(error)


TYPE_WORDS = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
              "object": "an object", "array": "a list", "null": "null"}
NULL_WORDS = "must be null"
BOUND_WORDS = {  # the schema keywords a message names a bound of, in the project's words
    "minimum": "must be at least {value}",
    "maximum": "must be at most {value}",
    "exclusiveMinimum": "must be more than {value}",
    "exclusiveMaximum": "must be less than {value}",
    "minItems": "must hold at least {value} item{s}",
    "maxItems": "must hold at most {value} item{s}",
    "pattern": "must match the pattern {value}",
    "format": "must be a valid {raw}",
    "const": "must be {value}",
}


def _short_message(error: Any) -> str:
    """A message that does not echo a (possibly huge) offending value back."""
    kind = error.validator
    value = error.validator_value
    if isinstance(error.schema, dict) and "x-message" in error.schema:
        return error.schema["x-message"]
    if kind == "type":
        return "must be " + " or ".join(TYPE_WORDS.get(name, name) for name in (value if isinstance(value, list) else [value]))
    if kind == "minLength":
        return f"must be at least {value} character{'s' if value != 1 else ''} long"
    if kind == "maxLength":
        return f"must be at most {value} characters long"
    if kind == "not" and value == {}:
        return "must not be present"
    if kind == "enum":
        return "must be one of " + ", ".join(json.dumps(v) for v in value)
    if kind == "pattern" and isinstance(error.schema, dict) and "x-pattern-message" in error.schema:
        return error.schema["x-pattern-message"]
    if kind in BOUND_WORDS:
        return BOUND_WORDS[kind].format(value=json.dumps(value), raw=value, s="" if value == 1 else "s")
    if kind in ("anyOf", "oneOf"):
        if all(set(option) == {"required"} for option in value):
            return "needs one of: " + ", ".join(name for option in value for name in option["required"])
        messages = list(dict.fromkeys(_short_message(sub) for sub in error.context if not sub.relative_path))
        nullable = NULL_WORDS in messages and len(messages) > 1
        text = " or ".join(m for m in messages if not (nullable and m == NULL_WORDS))
        return text + " (or null)" if nullable else text
    if kind == "not" and isinstance(error.schema, dict) and "description" in error.schema:
        return error.schema["description"]
    if kind == "not" and set(value) == {"required"}:
        return "must not have both " + " and ".join(value["required"])
    if kind == "uniqueItems":
        return "must not repeat an item"
    return error.message if len(error.message) < 200 else error.message[:200] + "…"
