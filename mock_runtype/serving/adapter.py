"""The seam between the app and the server that runs it: the one module that knows the engine.

The engine (`mock_runtype.serving.engine`) asks, before it calls the app, how to answer each
request. This adapter answers from the request's plan (`mock_runtype.http.interception`): hold it
for a scenario's delay without a thread, answer it on a worker when it is heavy, inline otherwise,
so the app is called exactly once. It turns the app's `DropConnection` into the engine's
`ConnectionDropped`. Swapping the engine for another server is a change to this folder only: the
app itself is plain WSGI, and under any other WSGI server a delay simply holds that server's thread.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from flask import Flask

from mock_runtype.http.interception import DropConnection, Interception, interception_of
from mock_runtype.serving.engine import INLINE, AsyncEngine, ConnectionDropped, Schedule, inline, unlimited
from mock_runtype.serving.logs import AccessLog

OFF_LOOP = Schedule(off_loop=True)
SHUTDOWN_GRACE = 0.5  # seconds a request being answered gets to finish (and be logged) on a stop
OTHER_APP_BODY_LIMIT = 64 * 1024 * 1024  # the engine buffers a whole body; an app not of ours names no limit


@dataclass(frozen=True)
class ServerSettings:
    """How `mock-runtype serve` runs: where it listens, its connections' limits, its logs and the
    fixture files it loads at start. What the sandbox itself is set up with is `SandboxSettings`."""

    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 4  # workers for heavy requests; everything else is answered on the event loop
    idle_timeout_s: int = 30  # an idle keep-alive connection is closed after this long
    request_timeout_s: int = 10  # a request whose headers and body take longer to arrive is dropped
    max_connections: int = 2000  # open connections at once; a newcomer beyond it takes an unused one's place
    log_format: str = "text"  # or "json": one JSON object per line
    quiet: bool = False  # only warnings and errors: no access log
    log_health: bool = False  # log health probes (a 2xx GET /health) in the access log too
    fixtures: tuple[str, ...] = ()  # files `mock-runtype serve` loads at start
    state_file: str | None = None  # where `mock-runtype serve` keeps the state across restarts
    state_interval_s: int = 5  # how often (seconds) a changed state is written to the state file


class Server:
    """An app listening on a socket (bound, not yet serving until `start()`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.port = engine.port
        self.name = engine.name

    def start(self) -> None:
        self._engine.start()

    def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop accepting, give the requests being answered `grace` seconds, then close them all."""
        self._engine.close(grace=grace)


def bind(app: Callable, settings: ServerSettings | None = None, *, access_log: bool = False,
         off_loop: bool = False) -> Server:
    """`app` bound on `settings.host:port` (OSError if that fails). An app made by `create_app` has
    its delays held without a thread and its heavy requests answered off the loop, and a body over
    its endpoint's own limit (`Interception.body_limit_of`) refused 413 from its headers, before
    it is read; any other WSGI app is called inline, or on a worker with `off_loop` (an app that
    waits on the network, as the conformance proxy does)."""
    settings = settings or ServerSettings()
    if isinstance(app, Flask):
        interception = interception_of(app)
        schedule, body_limit = _schedule_of(interception), interception.body_limit_of
    else:
        schedule, body_limit = (_off_loop if off_loop else inline), unlimited(OTHER_APP_BODY_LIMIT)
    served = _Dropping(app)
    if access_log:
        served = AccessLog(served)  # outermost: it logs the answer the client got
    # One socket on the first address `host` resolves to, bound here so that every failure to
    # listen (unknown host, port in use, no permission) is an OSError.
    sock = socket.create_server((settings.host, settings.port), family=_family(settings.host), backlog=1024)
    return Server(AsyncEngine(served, sock, settings.threads, schedule=schedule, body_limit=body_limit,
                              idle_timeout_s=settings.idle_timeout_s, request_timeout_s=settings.request_timeout_s,
                              max_connections=settings.max_connections))


def _family(host: str) -> socket.AddressFamily:
    """The address family of the first address `host` resolves to (OSError if none)."""
    return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]


def _off_loop(environ: dict[str, Any]) -> Schedule:
    return OFF_LOOP


def _schedule_of(interception: Interception) -> Callable[[dict[str, Any]], Schedule]:
    def schedule(environ: dict[str, Any]) -> Schedule:
        context = interception.plan(environ)
        if not context.delay_s and not context.heavy:
            return INLINE
        context.held = True  # the engine waits the delay out before it calls the app
        return Schedule(context.delay_s, off_loop=context.heavy)

    return schedule


class _Dropping:
    """The app, with its `DropConnection` raised as the engine's `ConnectionDropped`."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        try:
            return self.app(environ, start_response)
        except DropConnection as fault:
            raise ConnectionDropped(str(fault), reset=fault.reset) from None
