"""Where scenarios and the journal meet the HTTP layer.

A WSGI middleware sees every request: it plans the request once (`plan`: its exchange, the
scenarios' outcome, and whether it is heavy: its operation's estimated work, from the registry,
over `INLINE_WORK_BUDGET`) into the request's context (`mock_runtype.http.context`),
lets Flask answer, and journals the exchange before the answer leaves, so a test that reads the
journal right after its call finds it. A server that can hold a request without a thread asks
`plan` first and waits out the delay itself (`mock_runtype.serving.adapter`); any other WSGI server
just calls the app, and the delay holds its thread. A connection fault raises `DropConnection`.
Flask hooks answer for scenarios (`respond`, 429, malformed JSON) so that errors keep their one
shape.
"""

from __future__ import annotations

import io
import time
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qs

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Map

from mock_runtype.contract.operations import (ADMIN_PREFIX, CONSOLE_PREFIX, OPERATIONS, Operation, Workload,
                                              operation, operation_at, request_work)
from mock_runtype.http.context import RequestContext, attach, context_of
from mock_runtype.http.responses import json_response
from mock_runtype.model.errors import RateLimited, Unauthenticated, WorkLimitExceeded
from mock_runtype.model.pacing import pace_this_thread
from mock_runtype.model.tenancy import token_from_header
from mock_runtype.sandbox.core import Sandbox
from mock_runtype.sandbox.exchange import Exchange, normalize_path
from mock_runtype.sandbox.journal import BODY_PREVIEW_BYTES, Journal
from mock_runtype.sandbox.scenarios import MALFORMED_JSON_BODY

# Estimated record visits a request may take on a server's event loop; a heavier one is answered on
# a worker, so that it does not hold up everyone else's small requests.
INLINE_WORK_BUDGET = 1_000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # a request by one of these changes no state


class DropConnection(Exception):
    """A scenario's connection fault: close without answering; abortively (a reset) when `reset`."""

    def __init__(self, reason: str, *, reset: bool) -> None:
        super().__init__(reason)
        self.reset = reset


def install(app: Flask, sandbox: Sandbox) -> None:
    """Put the middleware around `app` and register its Flask hooks."""
    app.wsgi_app = Interception(app.wsgi_app, sandbox, app.url_map)  # type: ignore[method-assign]
    app.before_request(answer_for_scenario)
    app.before_request(lambda: refuse_over_work_limit(sandbox.settings.max_request_work))
    app.after_request(add_scenario_headers)


def interception_of(app: Flask) -> Interception:
    """The middleware `install` put around `app`."""
    middleware = app.wsgi_app
    if not isinstance(middleware, Interception):
        raise TypeError("the app was not built by create_app")
    return middleware


def is_admin(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def is_console(path: str) -> bool:
    """The web console's paths: inside the control API's, under its guard."""
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


class Interception:
    """The WSGI middleware: scenarios before the app, the journal after it."""

    def __init__(self, app: Callable[..., Iterable[bytes]], sandbox: Sandbox, url_map: Map) -> None:
        self.app = app
        self.sandbox = sandbox
        self.url_map = url_map
        self.body_limit = max(sandbox.settings.max_body_bytes, sandbox.settings.max_upload_bytes)
        self._routes = url_map.bind("localhost")
        # The paths that may be an operation taking a file: only those are matched (a match costs 10-30 µs).
        self._file_paths = tuple(op.path.partition("{")[0] for op in OPERATIONS if op.takes_file)

    def body_limit_of(self, method: str, path: str) -> int:
        """The largest body the endpoint at `method path` takes: the upload limit for an operation
        that takes a file, the JSON body limit for any other (and for a path that is no route)."""
        settings = self.sandbox.settings
        if not path.startswith(self._file_paths):
            return settings.max_body_bytes
        try:
            endpoint, _ = self._routes.match(path, method)
        except HTTPException:
            return settings.max_body_bytes
        return settings.max_upload_bytes if operation(endpoint).takes_file else settings.max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        context = self.plan(environ)
        pace_this_thread(context.heavy)  # a server answers a heavy request off its loop: its scans yield
        if context.delay_s and not context.held:
            time.sleep(context.delay_s)
        try:
            if context.exchange is None:
                return self.app(environ, start_response)
            return self._answer(context, environ, start_response)
        finally:
            if environ.get("REQUEST_METHOD") not in SAFE_METHODS:
                self.sandbox.changes += 1  # once answered: the state may have changed (see `Sandbox.changes`)

    def plan(self, environ: dict[str, Any]) -> RequestContext:
        """The request's context, made on the first call: the scenarios' outcome, and whether it
        is heavy."""
        context = context_of(environ)
        if context is not None:
            return context
        op = operation_at(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""))
        if is_admin(normalize_path(environ.get("PATH_INFO", ""))):
            query = _query(environ)
            scope = (query.get("tenant") or [None])[0]
            work = self._work(op, environ, query, scope, b"")
            return attach(environ, RequestContext(None, None, work > INLINE_WORK_BUDGET, work=work, operation=op))
        exchange = self._exchange(environ)
        outcome = self.sandbox.scenarios.decide(exchange)
        exchange.scenarios = outcome.fired
        work = self._work(op, environ, exchange.query, exchange.tenant_key, exchange.body)
        whole = exchange.body if exchange.body and _declares_length(environ, len(exchange.body)) else None
        return attach(environ, RequestContext(exchange, outcome, work > INLINE_WORK_BUDGET, work=work, body=whole,
                                              operation=op))

    def _work(self, op: Operation | None, environ: dict[str, Any], query: dict[str, list[str]],
              tenant_key: str | None, body: bytes) -> int:
        """The request's estimated work, in record visits (unrouted requests are errors: light)."""
        if op is None:
            return 0
        store, sandbox = self.sandbox.store, self.sandbox
        workload = Workload(
            query, _content_length(environ), store.count(tenant_key) if tenant_key else 0, store.count,
            caller_bytes=store.size(tenant_key) if tenant_key else 0, body=body,
            count_caller_runs=lambda: sandbox.executions.count(tenant_key) if tenant_key else 0,
            count_journal=lambda: len(sandbox.journal),
        )
        return request_work(op, workload)

    def _answer(self, context: RequestContext, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        exchange, outcome = context.exchange, context.outcome
        if outcome.fault in ("connection_reset", "empty_response"):
            exchange.fault = outcome.fault
            self.sandbox.journal.record(exchange)
            raise DropConnection("scenario fault: " + outcome.fault, reset=outcome.fault == "connection_reset")
        answer: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer["status"], answer["headers"] = status, headers
            return start_response(status, headers, exc_info)

        app_iter = self.app(environ, capture)
        exchange.status = int(answer["status"].split(" ", 1)[0]) if "status" in answer else None
        headers = {name.lower(): value for name, value in answer.get("headers", ())}
        exchange.response_type = headers.get("content-type", "")
        exchange.response_headers = headers
        exchange.violation = context.violation
        exchange.contract_warning = context.contract_warning
        if outcome.fault:
            exchange.fault = outcome.fault
        if "content-length" not in headers:
            return JournaledStream(app_iter, exchange, self.sandbox.journal)
        try:
            chunks = list(app_iter)
        finally:
            close_body(app_iter)
        exchange.response_body = b"".join(chunks)
        self.sandbox.journal.record(exchange)
        return chunks

    def _exchange(self, environ: dict[str, Any]) -> Exchange:
        """The request as scenarios and the journal see it; the body is read once and put back."""
        length = _content_length(environ)
        body = b""
        if 0 < length <= self.body_limit:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        try:
            tenant_key: str | None = self.sandbox.tenancy.partition_of(token_from_header(headers.get("authorization")))
        except Unauthenticated:
            tenant_key = None
        return Exchange(
            method=environ.get("REQUEST_METHOD", "GET"),
            path=environ.get("PATH_INFO", "") or "/",
            query=_query(environ),
            headers=headers,
            body=body,
            tenant_key=tenant_key,
            time_ms=self.sandbox.clock.now_ms(tenant_key),
        )


def close_body(body: Iterable[bytes]) -> None:
    """PEP 3333: a body with a `close()` is closed once served, or abandoned."""
    close = getattr(body, "close", None)
    if close is not None:
        close()


def _query(environ: dict[str, Any]) -> dict[str, list[str]]:
    """The query string's parameters (blank values kept); most requests have none to parse."""
    text = environ.get("QUERY_STRING")
    return parse_qs(text, keep_blank_values=True) if text else {}


def _content_length(environ: dict[str, Any]) -> int:
    """The request's declared body length (0 when absent or not a number)."""
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _declares_length(environ: dict[str, Any], length: int) -> bool:
    """Whether the request's Content-Length is `length` in HTTP's digits alone: what int() also
    takes (`+5`, `5_0`) Werkzeug reads as no body under a server that leaves the stream unbounded."""
    declared = environ.get("CONTENT_LENGTH") or ""
    return declared.isdigit() and declared.isascii() and int(declared) == length


class JournaledStream:
    """A streamed answer (an export) passed through as the app makes it, keeping only the journal's
    preview of it, so its size never sits in memory.

    The entry is recorded once the app has made its last chunk but before that chunk is handed on,
    so the journal has it by the time the client has the whole answer; or at `close()`, when the
    client went away first (or the server never read the body), which also closes the app's body.
    """

    def __init__(self, app_iter: Iterable[bytes], exchange: Exchange, journal: Journal) -> None:
        self.app_iter = app_iter
        self.exchange = exchange
        self.journal = journal
        self.preview = bytearray()
        self.recorded = False

    def __iter__(self) -> Iterator[bytes]:
        held: bytes | None = None
        for chunk in self.app_iter:
            if len(self.preview) <= BODY_PREVIEW_BYTES:  # a byte past the preview tells it was cut
                self.preview += chunk[:BODY_PREVIEW_BYTES + 1 - len(self.preview)]
            if held is not None:
                yield held
            held = chunk
        self._record()
        if held is not None:
            yield held

    def close(self) -> None:
        try:
            self._record()
        finally:
            close_body(self.app_iter)

    def _record(self) -> None:
        if not self.recorded:
            self.recorded = True
            self.exchange.response_body = bytes(self.preview)
            self.journal.record(self.exchange)


def answer_for_scenario() -> Response | None:
    """Answer instead of the API when a scenario says so."""
    context = context_of(request.environ)
    if context is None or not context.answered_by_scenario:
        return None
    outcome = context.outcome
    if outcome.retry_after_s is not None:
        raise RateLimited(outcome.rate_limit_message or "Rate limit exceeded", headers=dict(outcome.headers))
    if outcome.fault == "malformed_json":
        return Response(MALFORMED_JSON_BODY, 200, mimetype="application/json")
    return scenario_response(outcome.respond or {})


def scenario_response(respond: dict[str, Any]) -> Response:
    """`respond: {status, body | text, headers}` as a response; without a body, an error status
    answers `{"error": "<its reason phrase>"}`."""
    status = respond.get("status", 200)
    headers = dict(respond.get("headers") or {})
    if "text" in respond:
        response = Response(respond["text"], status=status, mimetype="text/plain")
    elif "body" in respond:
        response = json_response(respond["body"], status)
    elif status >= 400:  # an error is JSON, as everywhere else
        response = json_response({"error": HTTP_STATUS_CODES.get(status, "Error")}, status)
    else:
        response = Response(b"", status=status)
        del response.headers["Content-Type"]  # no body, so no media type
    for name, value in headers.items():
        response.headers[name] = value
    return response


def refuse_over_work_limit(limit: int) -> None:
    """A request of the API whose estimated work is over the work limit is refused before it runs
    (the control API's own work is the operator's, never refused)."""
    context = context_of(request.environ)
    if context is not None and context.exchange is not None and context.work > limit:
        raise WorkLimitExceeded(context.work, limit)


def add_scenario_headers(response: Response) -> Response:
    """Rate-limit headers on answers a rate-limit scenario let through."""
    context = context_of(request.environ)
    if context is not None and context.outcome is not None:
        for name, value in context.outcome.headers.items():
            response.headers.setdefault(name, value)
    return response
