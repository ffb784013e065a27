"""`--check-responses`: every response is checked against the document before it leaves.

A response that breaks it is logged and replaced by a 500 naming the broken fields, so a
mismatch is never silent.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request

from mock_runtype.http.context import context_of
from mock_runtype.http.routes import operation_for
from mock_runtype.http.responses import json_response
from mock_runtype.contract.response_check import check_response

log = logging.getLogger("mock_runtype")


def register_response_check(app: Flask) -> None:
    @app.after_request
    def check(response: Response) -> Response:
        context = context_of(request.environ)
        if context is not None and context.answered_by_scenario:  # a test asked for it: not the sandbox's own
            return response
        if request.endpoint is not None and operation_for(request.endpoint).console:  # HTML pages, not the API
            return response
        rule = request.url_rule.rule if request.url_rule is not None else None
        body = None if response.is_streamed else response.get_data()
        mismatch = check_response(request.method, rule, response.status_code, response.mimetype or "", body)
        if mismatch is None:
            return response
        message = mismatch.message(request.method, request.path[:200], response.status_code)
        log.error("%s %s", message, mismatch.details)
        return json_response({"error": message, "details": mismatch.details}, 500)
