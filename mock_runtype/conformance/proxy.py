"""`mock-runtype proxy --upstream URL`: a pass-through proxy that checks the live service's answers.

Every request goes to the upstream as it came (method, path, query, headers, the key included,
body), and the upstream's answer goes back as it came; only hop-by-hop headers are dropped both
ways, and `Host` names the upstream. Each answer is checked against the sandbox's document (the
statuses each operation may answer and their schemas: `mock_runtype.contract.response_check`),
and what breaks it is kept in a bounded journal (no header, no query string, no body of the
request: the key never lands there, nor in any log), summarised on `GET /__admin/proxy` and
printed when the proxy stops.
"""

from __future__ import annotations

import http.client
import json
import signal
import sys
import threading
import time
from collections import Counter, deque
from typing import Any, Callable, Iterable
from urllib.parse import quote, urlsplit

from mock_runtype.conformance.compare import operation_path
from mock_runtype.contract.operations import find_operation
from mock_runtype.contract.response_check import check_response
from mock_runtype.serving.adapter import ServerSettings, bind

ADMIN_PATH = "/__admin/proxy"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length"}
JOURNAL_LIMIT = 1000
TIMEOUT_S = 60.0


class Proxy:
    """The WSGI app: forward, check, journal."""

    def __init__(self, upstream: str, *, timeout_s: float = TIMEOUT_S, journal_limit: int = JOURNAL_LIMIT) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{upstream}: not an http(s) URL")
        self.upstream = upstream.rstrip("/")
        self.scheme, self.host, self.port, self.base = parts.scheme, parts.hostname, parts.port, parts.path.rstrip("/")
        self.netloc = parts.netloc.rpartition("@")[2]
        self.timeout_s = timeout_s
        self.violations: deque[dict[str, Any]] = deque(maxlen=journal_limit)
        self.kinds: Counter[tuple[str, str, str]] = Counter()
        self.checked = 0
        self.unreachable = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "") or "/"
        if path.rstrip("/") == ADMIN_PATH:
            return self._admin(method, start_response)
        target = quote(path.encode("latin-1"), safe="/-._~!$&'()*+,;=:@") + (
            "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        length = environ.get("CONTENT_LENGTH") or "0"
        body = environ["wsgi.input"].read(int(length)) if length.isdigit() and int(length) else None
        headers = {"Host": self.netloc}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").title()
                if name.lower() not in HOP_BY_HOP:
                    headers[name] = value
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        try:
            status, reason, answer_headers, answer_body = self._forward(method, target, headers, body)
        except (OSError, http.client.HTTPException) as error:
            with self._lock:
                self.unreachable += 1
            payload = json.dumps({"error": f"mock-runtype proxy: the upstream {self.upstream} did not answer:"
                                           f" {type(error).__name__}"}).encode()
            start_response("502 Bad Gateway", [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(payload)))])
            return [payload]
        self._check(method, path, status, answer_headers, answer_body)
        passed = [(k, v) for k, v in answer_headers if k.lower() not in HOP_BY_HOP]
        passed.append(("Content-Length", str(len(answer_body))))
        start_response(f"{status} {reason or http.client.responses.get(status, '')}".strip(), passed)
        return [answer_body]

    def _forward(self, method: str, target: str, headers: dict[str, str],
                 body: bytes | None) -> tuple[int, str, list[tuple[str, str]], bytes]:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        connection = kind(self.host, self.port, timeout=self.timeout_s)
        try:
            connection.request(method, self.base + target, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()

    def _check(self, method: str, path: str, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        mimetype = content_type.split(";", 1)[0].strip().lower()
        route = operation_path(method, path)
        operation = find_operation(method, route) if route else None
        mismatch = check_response(method, route if operation is not None else None, status, mimetype,
                                  body if method.upper() != "HEAD" else None)
        with self._lock:
            self.checked += 1
            if mismatch is None:
                return
            name = operation.operation_id if operation is not None else "(no operation)"
            self.kinds[(name, str(status), mismatch.summary)] += 1
            self.violations.append({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "method": method,
                                    "path": path[:300], "operationId": name, "status": status,
                                    "problem": mismatch.summary, "details": mismatch.details[:20]})

    def summary(self) -> dict[str, Any]:
        with self._lock:
            kinds = [{"operationId": op, "status": int(status), "problem": problem, "count": count}
                     for (op, status, problem), count in self.kinds.most_common()]
            return {"upstream": self.upstream, "checked": self.checked, "unreachable": self.unreachable,
                    "breaking": sum(self.kinds.values()), "kinds": kinds, "violations": list(self.violations)}

    def clear(self) -> None:
        with self._lock:
            self.violations.clear()
            self.kinds.clear()
            self.checked = self.unreachable = 0

    def _admin(self, method: str, start_response: Callable) -> Iterable[bytes]:
        if method in ("GET", "HEAD"):
            status, payload = "200 OK", self.summary()
        elif method == "DELETE":
            self.clear()
            status, payload = "200 OK", {"cleared": True}
        else:
            status, payload = "405 Method Not Allowed", {"error": f"{ADMIN_PATH} takes GET or DELETE"}
        data = json.dumps(payload, indent=2).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data] if method != "HEAD" else [b""]


def summary_text(summary: dict[str, Any]) -> str:
    lines = [f"proxy to {summary['upstream']}: {summary['checked']} answers checked, {summary['breaking']} broke"
             f" the sandbox's document" + (f", {summary['unreachable']} not answered" if summary["unreachable"] else "")]
    for kind in summary["kinds"]:
        lines.append(f"  {kind['count']:>5} x {kind['operationId']} {kind['status']}: {kind['problem']}")
    return "\n".join(lines)


def serve_proxy(proxy: Proxy, settings: ServerSettings, say: Callable[[str], None]) -> int:
    """Serve until SIGTERM or SIGINT, then print the summary; 1 if it cannot listen.
    Each request is answered on a worker thread: it waits on the upstream."""
    stops = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        try:
            server = bind(proxy, settings, off_loop=True)
        except OSError as error:
            print(f"mock-runtype proxy: cannot listen on {settings.host}:{settings.port}: {error.strerror or error}",
                  file=sys.stderr)
            return 1
        server.start()
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        say(f"mock-runtype proxy on http://{host}:{server.port} -> {proxy.upstream}"
            f" (summary at {ADMIN_PATH})")
        signal.sigwait(stops)
        server.close()
        say(summary_text(proxy.summary()))
        return 0
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
