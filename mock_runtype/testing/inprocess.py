"""The in-process mode: `mock_runtype.mock()` answers the Runtype API's host from a sandbox in
this process, as moto's `mock_aws` does for AWS: no server, no port, no `base_url` to pass.

Inside it, requests that httpx (the SDK's transport, sync and async) or `requests` send to one of
its hosts are handed to the app (`create_app`) as plain WSGI calls; respx and responses, the
libraries made for intercepting those two clients, do the catching, and every other host passes
through to the network (or is refused, by option). A scenario's delay sleeps the caller's thread,
or is awaited in async code; its connection faults raise what httpx or requests raise when a real
server resets or closes the connection.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import http.client
import inspect
import json
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlencode, urlsplit

from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from mock_runtype.http.app import create_app
from mock_runtype.http.interception import DropConnection, interception_of
from mock_runtype.sandbox.core import Sandbox, SandboxSettings
from mock_runtype.testing.helpers import (
    ADMIN,
    AdminError,
    Control,
    ExpectedErrors,
    Violation,
    WatchedTenant,
    _decode,
    _error_text,
)

DEFAULT_HOSTS = ("https://api.runtype.com",)
INSTALL_HINT = "pip install 'mock-runtype[mock]'"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
RESET_TEXT = "[Errno 104] Connection reset by peer"
EMPTY_TEXT = "Server disconnected without sending a response."

FixtureSource = str | Path | dict[str, Any]
# Set while respx resolves a request of an async client, so the answer can await a delay.
_answering_async: contextvars.ContextVar[bool] = contextvars.ContextVar("mock_runtype_async", default=False)


class InProcessControl(Control):
    """The control API of an in-process app, called through werkzeug's test client: never a socket,
    and never through the interception, which may refuse foreign hosts."""

    def __init__(self, app: Any, url: str) -> None:
        super().__init__(url)
        self._client = Client(app)

    def call(self, method: str, path: str, *, query: dict[str, Any] | None = None, json_body: Any = None,
             raw_body: bytes | None = None, content_type: str = "application/json") -> Any:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        data = raw_body if raw_body is not None else (None if json_body is None else json.dumps(json_body).encode())
        answer = self._client.open(ADMIN + path, method=method, query_string=urlencode(params, doseq=True),
                                   data=data, content_type=content_type if data is not None else None,
                                   headers={"Accept": "application/json"})
        body = _decode(answer.get_data(as_text=True))
        if answer.status_code >= 400:
            raise AdminError(f"{method} {ADMIN}{path} answered {answer.status_code}: {_error_text(body)}",
                             answer.status_code, body)
        return body

    def check(self) -> dict[str, Any]:
        return _decode(self._client.get("/health").get_data(as_text=True))


class InProcessMock(WatchedTenant):
    """A sandbox answering the Runtype API's hosts in this process while it is active.

    The control methods (`requests()`, `state()`, `add_scenario()`, `set_clock()`, `reset()`...)
    act on the whole sandbox, since every tenant in it is the test's; `tenant(api_key)` scopes them
    to one key. Each activation (a `with`, a decorated call) starts from an empty sandbox plus the
    fixtures given."""

    def __init__(self, *fixtures: FixtureSource, hosts: Sequence[str] = DEFAULT_HOSTS,
                 settings: SandboxSettings | None = None, refuse_other_hosts: bool = False) -> None:
        if isinstance(hosts, str):
            hosts = (hosts,)
        if not hosts:
            raise ValueError("mock() needs at least one host to answer")
        self.hosts = tuple(_base_url(host) for host in hosts)
        self.fixtures = fixtures
        self.settings = settings
        self.refuse_other_hosts = refuse_other_hosts
        self.url = self.hosts[0]
        self.sandbox: Sandbox | None = None
        self.app: Any = None
        self._patterns = [re.compile(re.escape(host) + r"(?=[/?#]|$)") for host in self.hosts]
        self._router: Any = None  # respx's, while active
        super().__init__(Control(self.url), None)  # type: ignore[arg-type]  # replaced on start
        self._expected = ExpectedErrors([self])

    # -- activation

    def _answering_its_hosts(self, settings: SandboxSettings) -> SandboxSettings:
        """No page can rebind a name that never reaches the network: the control API answers to
        the hosts this mock intercepts."""
        if settings.admin_hosts == ("*",):
            return settings
        names = tuple(urlsplit(host).hostname or "" for host in self.hosts)
        return replace(settings, admin_hosts=settings.admin_hosts + names)

    def start(self) -> InProcessMock:
        if self._router is not None:
            raise RuntimeError("this mock() is active already; make another for a nested one")
        _interceptors()
        self.sandbox = Sandbox(self._answering_its_hosts(self.settings or SandboxSettings()))
        self.app = create_app(self.sandbox)
        self.control = InProcessControl(self.app, self.url)
        self._expected = ExpectedErrors([self])
        for source in self.fixtures:
            try:
                self.load_fixtures(source)
            except AdminError as error:
                where = f"{source}: " if isinstance(source, Path) else ""
                raise AdminError(f"{where}{error}", error.status, error.body) from None
        router = _router_class()(assert_all_called=False, assert_all_mocked=self.refuse_other_hosts)
        for pattern in self._patterns:
            router.route(url__regex=pattern.pattern).mock(side_effect=self._answer_httpx)
        if not self.refuse_other_hosts:
            router.route().pass_through()
        router.start()
        try:
            _REQUESTS_CATCHER.add(self)
        except BaseException:
            router.stop()
            raise
        self._router = router
        return self

    def stop(self) -> None:
        router, self._router = self._router, None
        if router is None:
            return
        _REQUESTS_CATCHER.remove(self)
        router.stop(quiet=True)

    def __enter__(self) -> InProcessMock:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> InProcessMock:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def __call__(self, func: Callable) -> Callable:
        """As a decorator: each call of `func` (sync or async) runs inside a fresh activation."""
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await func(*args, **kwargs)
            return run_async

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)
        return run

    # -- the test's handle

    def unexpected_violations(self) -> list[Violation]:
        """The sandbox's contract violations outside `expect_errors()` blocks."""
        return self._expected.unexpected()

    def assert_no_violations(self) -> None:
        """AssertionError listing the contract violations outside `expect_errors()` blocks."""
        found = self.unexpected_violations()
        if found:
            raise AssertionError("mock-runtype: contract violations:\n" + "\n".join(f"  {v}" for v in found))

    # -- answering

    def _target(self, url: str) -> tuple[str, str] | None:
        """The host (base URL) that answers `url` and the path below it; None for a foreign host."""
        for host, pattern in zip(self.hosts, self._patterns):
            if pattern.match(url):
                return host, url[len(host):]
        return None

    def _environ(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> dict[str, Any] | None:
        target = self._target(url)
        if target is None:
            return None
        host, rest = target
        path, _, query = rest.split("#", 1)[0].partition("?")
        content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
        kept = [(k, v) for k, v in headers if k.lower() not in ("content-type", "content-length", "host")]
        builder = EnvironBuilder(path=path or "/", base_url=host + "/", query_string=query, method=method,
                                 headers=kept, data=body, content_type=content_type)
        try:
            return builder.get_environ()
        finally:
            builder.close()

    def _call_app(self, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        app_iter, status, headers = run_wsgi_app(self.app, environ, buffered=True)
        try:
            body = b"".join(app_iter)
        finally:
            getattr(app_iter, "close", lambda: None)()
        return int(status.split(" ", 1)[0]), list(headers.items()), body

    def _answer_httpx(self, request: Any) -> Any:
        import httpx

        environ = self._environ(request.method, str(request.url), list(request.headers.multi_items()), request.read())
        assert environ is not None  # respx only calls back for URLs our patterns match

        def respond() -> Any:
            try:
                status, headers, body = self._call_app(environ)
            except DropConnection as fault:
                error = httpx.ReadError if fault.reset else httpx.RemoteProtocolError
                raise error(RESET_TEXT if fault.reset else EMPTY_TEXT, request=request) from None
            return httpx.Response(status, headers=headers, content=body, request=request)

        if not _answering_async.get():
            return respond()  # a delay sleeps in the middleware, in the caller's thread

        async def respond_async() -> Any:
            context = interception_of(self.app).plan(environ)
            if context.delay_s:
                context.held = True
                await asyncio.sleep(context.delay_s)
            return respond()
        return respond_async()

    def _answer_requests(self, request: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        import requests

        body = request.body or b""
        environ = self._environ(request.method, request.url, list(request.headers.items()),
                                body.encode("utf-8") if isinstance(body, str) else body)
        assert environ is not None  # responses only calls back for URLs our patterns match
        try:
            return self._call_app(environ)
        except DropConnection as fault:
            cause: Exception = (ConnectionResetError(104, "Connection reset by peer") if fault.reset
                                else http.client.RemoteDisconnected("Remote end closed connection without response"))
            raise requests.ConnectionError(("Connection aborted.", cause), request=request) from None


class _SharedRequestsCatcher:
    """One `responses.RequestsMock` for every active mock(): responses patches `requests` with a
    plain `mock.patch`, which puts back what was there when it started, so two of them stopped out
    of order would leave the second's requests unanswered and `requests` patched for good. Each
    host is answered by the newest active mock() that names it; other hosts pass through unless
    an active mock() refuses them. (respx keeps its own count of active routers.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[InProcessMock] = []
        self._catcher: Any = None

    def add(self, owner: InProcessMock) -> None:
        with self._lock:
            if self._catcher is None:
                _, responses = _interceptors()
                catcher = responses.RequestsMock(assert_all_requests_are_fired=False)
                catcher.start()
                self._catcher = catcher
            self._active.append(owner)
            self._register()

    def remove(self, owner: InProcessMock) -> None:
        with self._lock:
            if owner in self._active:
                self._active.remove(owner)
            if self._active:
                self._register()
            elif self._catcher is not None:
                self._catcher.stop()
                self._catcher.reset()
                self._catcher = None

    def _register(self) -> None:
        """The callbacks of the active mocks, one per host and method (responses would take turns
        between two callbacks matching one URL)."""
        owners: dict[str, InProcessMock] = {}
        for owner in self._active:  # oldest first: a newer mock of the same host wins
            for pattern in owner._patterns:
                owners[pattern.pattern] = owner
        catcher = self._catcher
        catcher.reset()
        for pattern_text, owner in owners.items():
            for method in METHODS:
                catcher.add_callback(method, re.compile(pattern_text), callback=owner._answer_requests)
        if not any(owner.refuse_other_hosts for owner in self._active):
            catcher.add_passthru(re.compile(".*"))


_REQUESTS_CATCHER = _SharedRequestsCatcher()


def mock(*fixtures: Any, hosts: Sequence[str] = DEFAULT_HOSTS, settings: SandboxSettings | None = None,
         refuse_other_hosts: bool = False) -> Any:
    """A sandbox in this process answering `hosts` (default `https://api.runtype.com`) for httpx and
    `requests`: a context manager (sync or async), or a decorator, with or without parentheses.

    `fixtures` are fixture documents (paths, YAML text or dicts) loaded into each fresh sandbox;
    `settings` are the sandbox's; `refuse_other_hosts` makes a request to any other host an error
    instead of going to the network."""
    if len(fixtures) == 1 and callable(fixtures[0]):
        return InProcessMock(hosts=hosts, settings=settings, refuse_other_hosts=refuse_other_hosts)(fixtures[0])
    return InProcessMock(*fixtures, hosts=hosts, settings=settings, refuse_other_hosts=refuse_other_hosts)


def _base_url(host: str) -> str:
    """`host` as a base URL (scheme, host, port and path prefix, no trailing slash)."""
    text = host if "://" in host else "https://" + host
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"mock(): {host!r} is not an http(s) base URL such as https://api.runtype.com")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    netloc = parts.hostname.lower() + (f":{parts.port}" if parts.port and parts.port != default_port else "")
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _interceptors() -> tuple[Any, Any]:
    try:
        import respx
        import responses
    except ImportError as missing:
        raise ImportError(f"mock_runtype.mock() needs respx and responses ({missing.name} is missing): "
                          f"{INSTALL_HINT}") from None
    return respx, responses


@functools.cache
def _router_class() -> type:
    respx, _ = _interceptors()

    class Router(respx.MockRouter):
        """respx's router, telling the answer when the request is an async client's."""

        async def aresolve(self, request: Any) -> Any:
            token = _answering_async.set(True)
            try:
                return await super().aresolve(request)
            finally:
                _answering_async.reset(token)

    return Router
