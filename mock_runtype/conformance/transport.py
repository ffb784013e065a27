"""Sending one request to either side: the target over HTTP (the standard library's `http.client`,
so the command needs no HTTP client beyond the package's), or a fresh in-process sandbox through
its Flask test client. Both answer an `Answer` the comparison reads the same way.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlencode, urlsplit

from mock_runtype.conformance.cases import Step, substitute
from mock_runtype.http.app import create_app
from mock_runtype.sandbox.core import Sandbox

USER_AGENT = "mock-runtype-conformance"
MAX_RETRY_WAIT_S = 30.0  # the longest single Retry-After honoured; a longer one ends the retries
MAX_RETRIES = 5
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with its query string
    headers: dict[str, str]
    body: bytes | None = None

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    waited_s: float = 0.0  # time spent honouring 429s before this answer

    @property
    def mimetype(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def json(self) -> object:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class TransportError(Exception):
    """The request could not be sent or its answer not read (a dropped connection, a timeout)."""


def build_request(step: Step, variables: dict, api_key: str) -> Request:
    """The step as one request, its variables taken from one side (Unresolved when one is missing)."""
    path = substitute(step.path, variables)
    query = substitute(step.query, variables)
    if query:
        pairs = [(key, _text(value)) for key, value in query.items()]
        path += "?" + urlencode(pairs)
    headers = {"Accept": "*/*", "User-Agent": USER_AGENT}
    if step.auth == "key":
        headers["Authorization"] = f"Bearer {api_key}"
    body = None
    if step.body is not None:
        body = json.dumps(substitute(step.body, variables)).encode()
        headers["Content-Type"] = "application/json"
    elif step.raw is not None:
        body = str(substitute(step.raw, variables)).encode()
        headers["Content-Type"] = step.content_type or "application/json"
    elif step.form is not None or step.files:
        body, headers["Content-Type"] = multipart(substitute(step.form or {}, variables),
                                                  substitute(step.files or {}, variables))
    headers.update(substitute(step.headers, variables))
    return Request(step.method, path, headers, body)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    """A multipart/form-data body with a fixed boundary (the same bytes to both sides)."""
    boundary = "mock-runtype-conformance-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{_text(value)}\r\n')
    for name, spec in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{spec.get("filename", "upload.csv")}"\r\n'
                     f'Content-Type: {spec.get("contentType", "text/csv")}\r\n\r\n{spec.get("content", "")}\r\n')
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode(), f"multipart/form-data; boundary={boundary}"


class SandboxSide:
    """A fresh in-process sandbox (default settings), asked through the Flask test client."""

    def __init__(self) -> None:
        self.sandbox = Sandbox()
        self.client = create_app(self.sandbox).test_client()
        self.api_key = f"rt_test_conformance_{uuid.uuid4().hex}"

    def send(self, request: Request) -> Answer:
        response = self.client.open(request.path, method=request.method, headers=request.headers,
                                    data=request.body)
        return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.get_data())


@dataclass
class HttpSide:
    """The target, over HTTP(S); a 429 is retried after its Retry-After (bounded), one at a time."""

    url: str
    api_key: str
    timeout_s: float = TIMEOUT_S
    max_retries: int = MAX_RETRIES
    max_wait_s: float = MAX_RETRY_WAIT_S
    sleep: Callable[[float], None] = time.sleep
    requests_sent: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{self.url}: not an http(s) URL")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.base = parts.path.rstrip("/")

    def send(self, request: Request) -> Answer:
        waited = 0.0
        for attempt in range(self.max_retries + 1):
            answer = self._once(request)
            if answer.status != 429 or attempt == self.max_retries:
                break
            wait = retry_after(answer.headers.get("retry-after"))
            if wait > self.max_wait_s:
                break
            self.sleep(wait)
            waited += wait
        return Answer(answer.status, answer.headers, answer.body, waited)

    def _once(self, request: Request) -> Answer:
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        connection = kind(self.host, self.port, timeout=self.timeout_s)
        try:
            self.requests_sent += 1
            connection.request(request.method, self.base + request.path, body=request.body, headers=request.headers)
            response = connection.getresponse()
            body = response.read()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        except (OSError, http.client.HTTPException) as error:
            raise TransportError(f"{request.method} {request.route}: {type(error).__name__}: {error}") from None
        finally:
            connection.close()


def retry_after(value: str | None) -> float:
    """Retry-After in seconds (1 when missing or not a number of seconds)."""
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine by its literal name: localhost or a loopback address
    (a name is not resolved, so a name that points elsewhere later cannot pass)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":  # not a name below it: the resolver may send that to DNS
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()

