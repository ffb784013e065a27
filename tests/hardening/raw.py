"""Raw HTTP for hostile tests: bytes go on the wire exactly as written (no client normalises the
path, re-encodes the body or adds headers), and every request has a generous timeout."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_S = 10  # generous: a hang fails the test, a slow answer does not


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(base_url: str, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None, *, chunked: bool = False) -> Answer:
    """One request on a fresh connection; the path and body are sent byte for byte."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT_S)
    try:
        own_host = any(name.lower() == "host" for name in headers or {})
        connection.putrequest(method, path, skip_host=own_host, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        elif body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        if body is not None:
            if chunked:
                for start in range(0, len(body), 65536):
                    piece = body[start:start + 65536]
                    connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                connection.send(b"0\r\n\r\n")
            else:
                connection.send(body)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()
