"""JSON as the sandbox reads it: one strict reader, and the names of JSON's types.

Every JSON text the sandbox takes in (a request body, a CSV cell, the `recordFilter` query
parameter) is read by `loads_strict`, so that what one of them refuses, none accepts: NaN and
Infinity (as literals, or as numbers too large for a float, which would become them) and
duplicate keys, which leave a value ambiguous. Each caller words its own errors.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any


class JSONTextError(ValueError):
    """Why a text is not strict JSON, with the line and column (1-based) when the parser knows them."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(reason if line is None else f"{reason} at line {line} column {column}")
        self.reason = reason
        self.line = line
        self.column = column


def _reject_constant(name: str) -> Any:
    raise JSONTextError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise JSONTextError(f"the number {text[:40]} is out of range")
    return number


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise JSONTextError(f"duplicate key '{duplicate[:80]}'")
    return result


class _Decoders(threading.local):
    """A strict decoder per thread: `json.loads` would build one per text, a third of a small
    body's reading (a decoder's scanner keeps a memo while it reads, so threads do not share one)."""

    def __init__(self) -> None:
        self.decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float,
                                        object_pairs_hook=_object_without_duplicates)


_decoders = _Decoders()


def loads_strict(text: str) -> Any:
    """The value of a JSON text; JSONTextError if it is not strict JSON. Nesting past Python's
    limit raises RecursionError, which callers answer in words of their own."""
    try:
        if text.startswith("\ufeff"):  # as json.loads refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _decoders.decoder.decode(text)
    except JSONTextError:
        raise
    except json.JSONDecodeError as error:
        raise JSONTextError(error.msg, error.lineno, error.colno) from None
    except ValueError as error:  # an integer of more digits than Python converts, say
        raise JSONTextError(str(error)) from None


def json_type(value: Any) -> str:
    """The JSON type name of a decoded JSON value: string, number, boolean, object, array or null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
