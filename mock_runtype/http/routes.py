"""The app's routes, made from the operation registry (`mock_runtype.contract.operations`).

A handler names the operations it answers with `@route("createRecord")`; `add_routes(app)` gives
each operation a url rule whose endpoint is its operation id, and refuses to build an app where an
operation has no handler, so a route cannot be declared in one place and forgotten in the other.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from flask import Flask

from mock_runtype.contract.operations import OPERATIONS, Operation, operation

_handlers: dict[str, Callable[..., Any]] = {}


def route(*operation_ids: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make the decorated function the handler of these operations (several when they share it,
    as PUT and PATCH of a record do)."""
    if not operation_ids:
        raise ValueError("a handler must answer at least one operation")
    for operation_id in operation_ids:
        operation(operation_id)  # KeyError at import for an id the registry does not have

    def bind(handler: Callable[..., Any]) -> Callable[..., Any]:
        for operation_id in operation_ids:
            if operation_id in _handlers:
                raise ValueError(f"{operation_id} has two handlers: {_handlers[operation_id].__qualname__} "
                                 f"and {handler.__qualname__}")
            _handlers[operation_id] = handler
        return handler
    return bind


def flask_rule(path: str) -> str:
    """`/v1/records/{id}` -> `/v1/records/<id>`."""
    return re.sub(r"\{([^{}]+)\}", r"<\1>", path)


def operation_for(endpoint: str) -> Operation:
    """The operation a matched url rule serves (`app.url_map.bind_to_environ(environ).match()`
    gives its endpoint), e.g. to estimate the request's work before the app runs."""
    return operation(endpoint)


def add_routes(app: Flask) -> None:
    """One url rule per operation, its endpoint the operation id (HEAD comes with GET)."""
    missing = [op.operation_id for op in OPERATIONS if op.operation_id not in _handlers]
    if missing:
        raise LookupError("operations without a handler (add @route to one): " + ", ".join(missing))
    for op in OPERATIONS:
        app.add_url_rule(flask_rule(op.path), endpoint=op.operation_id, view_func=_handlers[op.operation_id],
                         methods=[op.method.upper()])
