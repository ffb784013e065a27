"""What the server prints: one access-log line per request, and its own messages.

Access lines go to stdout, everything else (start-up, warnings, errors) to stderr, each either as
text or as one JSON object per line (`--log-format json`). The access log is WSGI middleware, so
it sees every answer whatever the server; it never prints headers, and writes the query
parameters that hold an API key (the control API's `?tenant=`) as the key's fingerprint
(`tenant=fp:…`, as the journal names a tenant), so no key or token reaches a log.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, TextIO
from urllib.parse import unquote_plus

from mock_runtype.http.context import context_of
from mock_runtype.model.tenancy import fingerprint

ACCESS = "mock_runtype.access"
MAX_LOGGED_PATH = 2000
KEY_PARAMETERS = frozenset({"tenant"})  # query parameters whose value is an API key


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class TextFormatter(logging.Formatter):
    """`2026-11-29T02:30:00.123Z GET /v1/records 200 1.4ms`, or `... WARNING message`."""

    def format(self, record: logging.LogRecord) -> str:
        access = getattr(record, "access", None)
        if access is not None:
            status = access["status"] if access["status"] is not None else "-"
            text = f"{access['method']} {access['path']} {status} {access['ms']}ms"
        else:
            text = f"{record.levelname} {record.getMessage()}"
            if record.exc_info:
                text += "\n" + self.formatException(record.exc_info)
        return f"{_timestamp(record.created)} {text}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time`, `level`, then the access fields or `message`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": _timestamp(record.created), "level": record.levelname.lower()}
        access = getattr(record, "access", None)
        if access is not None:
            entry.update(access)
        else:
            entry["message"] = record.getMessage()
            entry.update(getattr(record, "fields", {}))
            if record.exc_info:
                entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str = "text", quiet: bool = False, out: TextIO | None = None,
              err: TextIO | None = None) -> None:
    """Send access lines to `out` (stdout) and other messages to `err` (stderr) in `log_format`;
    with `quiet`, only warnings and errors. Replaces any handlers set by an earlier call."""
    formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    for name, stream, level in (
        (ACCESS, out or sys.stdout, logging.WARNING if quiet else logging.INFO),
        ("mock_runtype", err or sys.stderr, logging.WARNING if quiet else logging.INFO),
    ):
        logger = logging.getLogger(name)
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def _printable(text: str) -> str:
    """The path as a log shows it: control characters escaped, so one request is one line."""
    if len(text) > MAX_LOGGED_PATH:
        text = text[:MAX_LOGGED_PATH] + "…"
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _without_keys(query: str) -> str:
    """The query string (UTF-8 text) with each key-holding parameter's value as its fingerprint."""
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, equals, value = part.partition("=")
        if equals and value and unquote_plus(name) in KEY_PARAMETERS:
            parts[index] = f"{name}=fp:{fingerprint(unquote_plus(value))}"
    return "&".join(parts)


class AccessLog:
    """WSGI middleware logging method, path (with the query), status and milliseconds per request,
    once the answer has been sent (or the client went away)."""

    def __init__(self, app: Callable, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or logging.getLogger(ACCESS)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        context = context_of(environ)  # planned already when the server held the request (a delay)
        started = context.received_at if context is not None else time.perf_counter()
        status: list[int | None] = [None]  # None: no answer (a scenario dropped the connection)

        def recording_start_response(line: str, headers: list, exc_info: Any = None) -> Callable:
            status[0] = int(line.split(" ", 1)[0])
            return start_response(line, headers, exc_info)

        def log() -> None:
            # PEP 3333: PATH_INFO holds the raw bytes as latin-1; show them as the UTF-8 they were.
            path = _utf8(environ.get("PATH_INFO", ""))
            if environ.get("QUERY_STRING"):
                path += "?" + _without_keys(_utf8(environ["QUERY_STRING"]))
            self.logger.info("access", extra={"access": {
                "method": environ.get("REQUEST_METHOD", "-"),
                "path": _printable(path),
                "status": status[0],
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }})

        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            log()
            raise
        return _AfterClose(body, log)


def _utf8(latin1: str) -> str:
    return latin1.encode("latin-1", "replace").decode("utf-8", "replace")


class _AfterClose:
    """Wraps a WSGI body so `callback` runs when the server closes it (PEP 3333)."""

    def __init__(self, body: Iterable[bytes], callback: Callable[[], None]) -> None:
        self._body = body
        self._callback = callback

    def __iter__(self):
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._callback()
