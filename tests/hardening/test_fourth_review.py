"""The fourth hostile review, of the per-request savings: the URL adapter's host part remembered
per `Host` header kept each host's first request (its path and query) and any Host header however
long, and stopped remembering for good once a client had sent enough distinct ones; the body the
interception read was handed to the app under a Content-Length that HTTP and Werkzeug refuse."""

from __future__ import annotations

import gc
import io
import tracemalloc
from typing import Any, Callable

from mock_runtype.http.app import MAX_REMEMBERED_HOSTS, create_app

AUTH = "Bearer rt_fourth_review"


def call(app, method: str, path: str, *, host: str = "localhost", query: str = "", body: bytes = b"",
         **environ: Any) -> tuple[int, bytes]:
    """One request as a plain WSGI server hands it over (no `wsgi.input_terminated`, as wsgiref)."""
    base = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(),
            "HTTP_HOST": host, "HTTP_AUTHORIZATION": AUTH}
    base.update(environ)
    answered: list[str] = []
    chunks = app(base, lambda status, headers, exc_info=None: answered.append(status))
    return int(answered[0].split(" ", 1)[0]), b"".join(chunks)


# the host cache: what it keeps of each host is the host, never a request's path or query

def retained_bytes(send: Callable[[], None]) -> int:
    """The memory still held once `send` is done (after a warm-up call, so that imports and
    first-use caches are not counted)."""
    send()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        send()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_a_hosts_first_request_is_not_kept_with_it():
    app = create_app()
    hosts = iter(range(1_000))

    def send() -> None:
        for _ in range(40):
            assert call(app, "GET", "/health", host=f"h{next(hosts)}.localhost", query="q=" + "x" * 100_000)[0] == 200

    assert retained_bytes(send) < 1_000_000  # was 40 first queries of 100 KB each, kept for good


def test_an_overlong_host_header_is_not_remembered():
    app = create_app()
    hosts = iter(range(1_000))
    long_name = "a." * 50_000 + "localhost"  # labels IDNA takes: Werkzeug answers it

    def send() -> None:
        for _ in range(20):
            assert call(app, "GET", "/health", host=f"h{next(hosts)}.{long_name}")[0] == 200

    assert retained_bytes(send) < 1_000_000  # was 20 names of 100 KB, three copies each, kept for good


def test_a_flood_of_hosts_does_not_stop_a_client_being_remembered():
    app = create_app()
    for number in range(MAX_REMEMBERED_HOSTS):
        assert call(app, "GET", "/health", host=f"flood{number}.localhost")[0] == 200
    for _ in range(2):
        assert call(app, "GET", "/health", host="client.localhost:8080")[0] == 200
    assert any(key[0] == "client.localhost:8080" for key in app._hosts)  # was: full for good, none remembered
    assert len(app._hosts) <= MAX_REMEMBERED_HOSTS


# the body the interception read is the app's only when it is the body Werkzeug would read

BODY = b'{"type":"lead","name":"smuggled"}'


def test_a_content_length_werkzeug_does_not_take_gives_the_app_no_body():
    app = create_app()
    length = len(BODY)
    for declared in (f"+{length}", f"{length // 10}_{length % 10}"):  # int() takes these; HTTP does not
        status, answer = call(app, "POST", "/v1/records", body=BODY, CONTENT_TYPE="application/json",
                              CONTENT_LENGTH=declared)
        assert status == 400 and b"empty" in answer, declared  # as Werkzeug reads it, as before (was 201)
    assert b"smuggled" not in call(app, "GET", "/v1/records")[1]
    status, _ = call(app, "POST", "/v1/records", body=BODY, CONTENT_TYPE="application/json", CONTENT_LENGTH=f"{length}")
    assert status == 201
