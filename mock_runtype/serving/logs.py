"""What the server prints: one access-log line per request, and its own messages.

Access lines go to stdout, everything else (start-up, warnings, errors) to stderr, each either as
text or as one JSON object per line (`--log-format json`). The access log is WSGI middleware, so
it sees every answer whatever the server; it never prints headers, and writes the query
parameters that hold an API key (the control API's `?tenant=`) as the key's fingerprint
(`tenant=fp:…`, as the journal names a tenant), so no key or token reaches a log. The line of an
error answer (4xx, 5xx) adds the tenant's fingerprint and the answer's `error` message. Health
probes (a 2xx `GET`/`HEAD /health`) are left out unless `--log-health`.

The access log is on the path of every request, so it is kept cheap (issue 13: it cost about 35 µs
of a 150 µs GET): no `logging` records, the time formatted once a second, and the line handed to
a writer thread that writes what has gathered every `FLUSH_INTERVAL_S`, so no request waits on
a write. The other messages are rare and go through `logging`.
"""

from __future__ import annotations

import atexit
import json
import logging
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Iterable, TextIO
from urllib.parse import unquote_plus

from mock_runtype.http.context import context_of
from mock_runtype.model.clock import format_timestamp
from mock_runtype.model.tenancy import fingerprint

MAX_LOGGED_PATH = 2000
MAX_LOGGED_ERROR = 300  # characters of an error answer's message in its line
MAX_ERROR_BODY = 8192  # bytes of an error answer read for its message
KEY_PARAMETERS = frozenset({"tenant"})  # query parameters whose value is an API key
HEALTH_PATHS = frozenset({"/health"})
FLUSH_INTERVAL_S = 0.1
STOP_FLUSH_S = 2.0  # the longest a stop waits for the last access lines to be written
MAX_PENDING_LINES = 100_000  # lines waiting for a stdout nobody reads; past it, lines are counted, not kept

def _timestamp(now: float) -> str:
    """`2026-11-29T02:30:00.123Z` (as records write their times: the second's part formatted once)."""
    return format_timestamp(int(now * 1000))


class TextFormatter(logging.Formatter):
    """The server's own messages: `2026-11-29T02:30:00.123Z WARNING message`."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return f"{_timestamp(record.created)} {text}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time`, `level`, `message`, then the message's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": _timestamp(record.created), "level": record.levelname.lower(),
                                 "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class LineWriter:
    """Access lines on their way to a stream: a request appends its line (a deque append, no
    lock, no system call); a daemon thread writes what has gathered every `FLUSH_INTERVAL_S`, and
    `flush()` writes the rest (on stop, at exit). A crash loses at most that interval's lines."""

    def __init__(self, stream: TextIO, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.stream = stream
        self.interval_s = interval_s
        self.dropped = 0
        self._pending: deque[str] = deque()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def write(self, line: str) -> None:
        if len(self._pending) >= MAX_PENDING_LINES:
            self.dropped += 1
            return
        self._pending.append(line)
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._write_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mock-runtype-access-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            self._write_pending()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Write every line gathered so far, in order, and flush the stream; True once done. With
        `timeout_s`, give up after that long: a stdout nobody reads blocks a write for ever (the
        writer thread's, then this one's), and a server must still stop on SIGTERM."""
        if timeout_s is None:
            self._write_pending()
            return True
        writing = threading.Thread(target=self._write_pending, name="mock-runtype-access-log-flush", daemon=True)
        writing.start()
        writing.join(timeout_s)
        return not writing.is_alive()

    def _write_pending(self) -> None:
        with self._write_lock:
            pending = self._pending
            lines = [pending.popleft() for _ in range(len(pending))]
            if self.dropped:
                lines.append(f"{_timestamp(time.time())} WARNING {self.dropped} access lines dropped: "
                             "stdout was not read")
                self.dropped = 0
            if not lines:
                return
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # a closed or broken stdout: nothing to tell it with
                pass

    def close(self) -> None:
        self._stopped.set()
        self.flush(STOP_FLUSH_S)


_writer: LineWriter | None = None  # where access lines go; None: nowhere (not configured, or --quiet)
_log_format = "text"
_log_health = False


def flush(timeout_s: float | None = STOP_FLUSH_S) -> bool:
    """Write the access lines still waiting (the server calls it as it stops), giving up after
    `timeout_s` on a stdout that is not read; True when they were written."""
    return _writer.flush(timeout_s) if _writer is not None else True


atexit.register(flush)


def configure(log_format: str = "text", quiet: bool = False, out: TextIO | None = None,
              err: TextIO | None = None, *, log_health: bool = False) -> None:
    """Send access lines to `out` (stdout) and other messages to `err` (stderr) in `log_format`;
    with `quiet`, no access lines and only warnings and errors; with `log_health`, health probes'
    lines too. Replaces what an earlier call set (writing its access lines first)."""
    global _writer, _log_format, _log_health
    if _writer is not None:
        _writer.close()
    _writer = None if quiet else LineWriter(out or sys.stdout)
    _log_format, _log_health = log_format, log_health
    logger = logging.getLogger("mock_runtype")
    handler = logging.StreamHandler(err or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def _printable(text: str) -> str:
    """The path as a log shows it: control characters escaped, so one request is one line."""
    if len(text) > MAX_LOGGED_PATH:
        text = text[:MAX_LOGGED_PATH] + "…"
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _without_keys(query: str) -> str:
    """The query string (UTF-8 text) with each key-holding parameter's value as its fingerprint."""
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, equals, value = part.partition("=")
        if equals and value and unquote_plus(name) in KEY_PARAMETERS:
            parts[index] = f"{name}=fp:{fingerprint(unquote_plus(value))}"
    return "&".join(parts)


def _logged_path(environ: dict[str, Any]) -> str:
    # PEP 3333: PATH_INFO holds the raw bytes as latin-1; show them as the UTF-8 they were.
    path = _utf8(environ.get("PATH_INFO", ""))
    query = environ.get("QUERY_STRING")
    if query:
        query = _utf8(query)
        path += "?" + (_without_keys(query) if "tenant" in query.lower() or "%" in query else query)
    return _printable(path)


def _error_message(chunks: list[bytes]) -> str | None:
    """The `error` of an error answer's JSON body (bounded), if it has one."""
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        return None
    message = body.get("error") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return None
    return message if len(message) <= MAX_LOGGED_ERROR else message[:MAX_LOGGED_ERROR] + "…"


def access_line(log_format: str, method: str, path: str, status: int | None, ms: float,
                tenant: str | None = None, error: str | None = None) -> str:
    """One access line: `2026-11-29T02:30:00.123Z GET /v1/records 200 1.4ms`, for an error
    answer followed by `tenant=fp:… error="…"`; or the same fields as one JSON object."""
    now = _timestamp(time.time())
    if log_format == "json":
        entry: dict[str, Any] = {"time": now, "level": "info", "method": method, "path": path, "status": status,
                                 "ms": round(ms, 1)}
        if tenant is not None:
            entry["tenant"] = tenant
        if error is not None:
            entry["error"] = error
        return json.dumps(entry, ensure_ascii=False)
    line = f"{now} {method} {path} {'-' if status is None else status} {ms:.1f}ms"
    if tenant is not None:
        line += f" tenant=fp:{tenant}"
    if error is not None:
        line += " error=" + _printable(json.dumps(error, ensure_ascii=False))
    return line


class AccessLog:
    """WSGI middleware writing method, path (with the query), status and milliseconds per request,
    once the answer has been sent (or the client went away), to the writer `configure` set up;
    `sink` (a callable taking the line) instead, when given."""

    def __init__(self, app: Callable, sink: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.sink = sink

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        sink = self.sink or (_writer.write if _writer is not None else None)
        if sink is None:
            return self.app(environ, start_response)
        context = context_of(environ)  # planned already when the server held the request (a delay)
        started = context.received_at if context is not None else time.perf_counter()
        status: list[int | None] = [None]  # None: no answer (a scenario dropped the connection)

        def recording_start_response(line: str, headers: list, exc_info: Any = None) -> Callable:
            status[0] = int(line[:3])
            return start_response(line, headers, exc_info)

        def log(error_body: list[bytes] | None = None) -> None:
            code = status[0]
            method = environ.get("REQUEST_METHOD", "-")
            if (not _log_health and code is not None and code < 300 and method in ("GET", "HEAD")
                    and environ.get("PATH_INFO") in HEALTH_PATHS):
                return
            tenant = error = None
            if code is not None and code >= 400:
                known = context_of(environ)
                tenant_key = known.exchange.tenant_key if known is not None and known.exchange is not None else None
                tenant = fingerprint(tenant_key) if tenant_key else None
                error = _error_message(error_body) if error_body else None
            sink(access_line(_log_format, method, _logged_path(environ), code,
                             (time.perf_counter() - started) * 1000, tenant, error))

        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            log()
            raise
        return _AfterClose(body, log, capture=status[0] is not None and status[0] >= 400)


def _utf8(latin1: str) -> str:
    if latin1.isascii():
        return latin1
    return latin1.encode("latin-1", "replace").decode("utf-8", "replace")


class _AfterClose:
    """Wraps a WSGI body so `callback` runs when the server closes it (PEP 3333); with `capture`
    (an error answer), it is given the body's first bytes, for the error message."""

    def __init__(self, body: Iterable[bytes], callback: Callable[..., None], capture: bool = False) -> None:
        self._body = body
        self._callback = callback
        self._captured: list[bytes] | None = [] if capture else None

    def __iter__(self):
        if self._captured is None:
            return iter(self._body)
        return self._capturing()

    def _capturing(self):
        kept = 0
        for chunk in self._body:
            if kept < MAX_ERROR_BODY:
                self._captured.append(chunk[:MAX_ERROR_BODY - kept])
                kept += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._callback(self._captured)
