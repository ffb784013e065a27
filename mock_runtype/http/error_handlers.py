"""The one place where errors become responses: always JSON `{"error": ...}`, never HTML."""

from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from mock_runtype.http.context import context_of
from mock_runtype.model.errors import SandboxError
from mock_runtype.http.responses import json_response

log = logging.getLogger("mock_runtype")

_HTTP_VIOLATIONS = {404: "unknown_route", 405: "method_not_allowed"}


def _mark_violation(kind: str | None) -> None:
    """Note in the request's context, for the journal, that its answer was a contract violation of
    `kind` (or none)."""
    context = context_of(request.environ)
    if kind is not None and context is not None:
        context.violation = kind


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SandboxError)
    def sandbox_error(error: SandboxError):
        _mark_violation(error.violation)
        return json_response(error.body(), error.status, error.headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
        if status == 404:
            message = f"Not found: {request.method} {request.path[:200]}"
        elif status == 405:
            message = f"Method {request.method} is not allowed on {request.path[:200]}"
        elif status == 413:
            message = f"Request body too large: the limit is {request.max_content_length} bytes"
        else:
            message = error.description or error.name
        _mark_violation(_HTTP_VIOLATIONS.get(status))
        return json_response({"error": message}, status, headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response({"error": "Internal server error"}, 500)
