"""Where scenarios and the journal meet the HTTP layer.

A WSGI middleware sees every request except `/__admin`: it reads the body once, asks the
scenarios what to do, lets Flask answer, and journals the exchange before the answer leaves, so a
test that reads the journal right after its call finds it. A delay, and long work, are handed to
the engine as a `Deferred` (`mock_runtype.serving.engine`): a delayed request holds no thread, and long
work runs on a worker while the loop answers everyone else; a connection fault raises the
engine's `ConnectionDropped`. Flask hooks answer for scenarios
(`respond`, 429, malformed JSON) so that errors keep their one shape.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qs

from flask import Flask, Response, request

from mock_runtype.model.errors import RateLimited, Unauthenticated
from mock_runtype.serving.engine import DEFERS, ConnectionDropped, Deferred, close_body
from mock_runtype.sandbox.exchange import Exchange, normalize_path
from mock_runtype.http.error_handlers import VIOLATION_KEY
from mock_runtype.http.responses import json_response
from mock_runtype.sandbox.journal import BODY_PREVIEW_BYTES, Journal
from mock_runtype.sandbox.core import Sandbox
from mock_runtype.sandbox.scenarios import MALFORMED_JSON_BODY, Outcome
from mock_runtype.model.tenancy import token_from_header

ADMIN_PREFIX = "/__admin"
OUTCOME_KEY = "mock_runtype.outcome"


LONG_WORK_PATHS = {"/v1/records/export", "/v1/records/upload-csv", "/v1/records/bulk-edit", "/v1/records/bulk-delete"}
LONG_WORK_BODY_BYTES = 64 * 1024
PREPARED_KEY = "mock_runtype.prepared"


@dataclass
class Prepared:
    """A request's plan, made once: its exchange and outcome (None for the control API), how long
    to hold it and whether a worker thread should answer it."""

    exchange: Exchange | None
    outcome: Outcome | None
    in_thread: bool

    @property
    def delay_s(self) -> float:
        return self.outcome.delay_ms / 1000 if self.outcome is not None and self.outcome.delay_ms else 0.0


def install(app: Flask, sandbox: Sandbox) -> None:
    """Put the middleware around `app` and register its Flask hooks."""
    app.wsgi_app = Interception(app.wsgi_app, sandbox)  # type: ignore[method-assign]
    app.before_request(answer_for_scenario)
    app.after_request(add_scenario_headers)


def is_admin(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


class Interception:
    """The WSGI middleware: scenarios before the app, the journal after it."""

    def __init__(self, app: Callable[..., Iterable[bytes]], sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox
        self.body_limit = max(sandbox.settings.max_body_bytes, sandbox.settings.max_upload_bytes)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        prepared: Prepared | None = environ.pop(PREPARED_KEY, None)
        if prepared is None:
            prepared = self._prepare(environ)
            if environ.get(DEFERS) and (prepared.delay_s or prepared.in_thread):
                environ[PREPARED_KEY] = prepared  # the engine calls again, later or from a worker
                return Deferred(prepared.delay_s, prepared.in_thread)
            if prepared.delay_s:  # a server without the engine's deferral: the delay holds this thread
                time.sleep(prepared.delay_s)
        if prepared.exchange is None:
            return self.app(environ, start_response)
        return self._answer(prepared, environ, start_response)

    def _prepare(self, environ: dict[str, Any]) -> Prepared:
        """What to do with the request: the scenarios' outcome, and whether it is long work
        (an export, an upload, a bulk change, a large body) for a worker thread."""
        path = normalize_path(environ.get("PATH_INFO", ""))
        in_thread = path in LONG_WORK_PATHS or _content_length(environ) > LONG_WORK_BODY_BYTES
        if is_admin(path):
            return Prepared(None, None, in_thread)
        exchange = self._exchange(environ)
        outcome = self.sandbox.scenarios.decide(exchange)
        exchange.scenarios = outcome.fired
        return Prepared(exchange, outcome, in_thread)

    def _answer(self, prepared: Prepared, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        exchange, outcome = prepared.exchange, prepared.outcome
        if outcome.fault in ("connection_reset", "empty_response"):
            exchange.fault = outcome.fault
            self.sandbox.journal.record(exchange)
            raise ConnectionDropped("scenario fault: " + outcome.fault, reset=outcome.fault == "connection_reset")
        environ[OUTCOME_KEY] = outcome
        answer: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer["status"], answer["headers"] = status, headers
            return start_response(status, headers, exc_info)

        app_iter = self.app(environ, capture)
        exchange.status = int(answer["status"].split(" ", 1)[0]) if "status" in answer else None
        headers = {name.lower(): value for name, value in answer.get("headers", ())}
        exchange.response_type = headers.get("content-type", "")
        exchange.violation = environ.get(VIOLATION_KEY)
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
            tenant_key: str | None = token_from_header(headers.get("authorization"))
        except Unauthenticated:
            tenant_key = None
        return Exchange(
            method=environ.get("REQUEST_METHOD", "GET"),
            path=environ.get("PATH_INFO", "") or "/",
            query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
            headers=headers,
            body=body,
            tenant_key=tenant_key,
            time_ms=self.sandbox.clock.now_ms(tenant_key),
        )


def _content_length(environ: dict[str, Any]) -> int:
    """The request's declared body length (0 when absent or not a number)."""
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


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


def answered_by_scenario() -> bool:
    """Whether a scenario answers the current request (a deliberate answer, outside the contract)."""
    outcome: Outcome | None = request.environ.get(OUTCOME_KEY)
    return outcome is not None and outcome.answers


def answer_for_scenario() -> Response | None:
    """Answer instead of the API when a scenario says so."""
    outcome: Outcome | None = request.environ.get(OUTCOME_KEY)
    if outcome is None or not outcome.answers:
        return None
    if outcome.retry_after_s is not None:
        raise RateLimited(outcome.rate_limit_message or "Rate limit exceeded", headers=dict(outcome.headers))
    if outcome.fault == "malformed_json":
        return Response(MALFORMED_JSON_BODY, 200, mimetype="application/json")
    return scenario_response(outcome.respond or {})


def scenario_response(respond: dict[str, Any]) -> Response:
    """`respond: {status, body | text, headers}` as a response."""
    status = respond.get("status", 200)
    headers = dict(respond.get("headers") or {})
    if "text" in respond:
        response = Response(respond["text"], status=status, mimetype="text/plain")
    elif "body" in respond:
        response = json_response(respond["body"], status)
    else:
        response = Response(b"", status=status)
    for name, value in headers.items():
        response.headers[name] = value
    return response


def add_scenario_headers(response: Response) -> Response:
    """Rate-limit headers on answers a rate-limit scenario let through."""
    outcome: Outcome | None = request.environ.get(OUTCOME_KEY)
    if outcome is not None:
        for name, value in outcome.headers.items():
            response.headers.setdefault(name, value)
    return response
