"""Runs the app on a production WSGI server: one process, threads (the state is in memory).

`start_engine` is the one place that knows the engine (waitress: pure Python, threaded, steady on
two cores); everything else here is engine-neutral: logging, signals, errors.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from typing import Any, Callable, Protocol

from mock_runtype import __version__, logs
from mock_runtype.http.app import create_app
from mock_runtype.sandbox import Sandbox, Settings

log = logging.getLogger("mock_runtype")
SHUTDOWN_GRACE = 0.5  # seconds a request being answered gets to finish (and be logged) on a stop


class Engine(Protocol):
    """A bound WSGI server: `start()` serves from background threads until `close()`."""

    name: str
    port: int

    def start(self) -> None: ...

    def close(self, grace: float = 0.0) -> None: ...  # requests being answered get `grace` s to finish


class WaitressEngine:
    name = "waitress"

    def __init__(self, app: Callable, host: str, port: int, threads: int, limits: Settings) -> None:
        # One socket on the first address `host` resolves to, bound here so that every failure
        # to listen (unknown host, port in use, no permission) is an OSError.
        self._socket = socket.create_server((host, port), family=_family(host), backlog=1024)
        self._server: Any = guarded_waitress(app, [self._socket], threads, limits)
        self.port = self._socket.getsockname()[1]
        self._loop: threading.Thread | None = None

    def start(self) -> None:
        self._loop = threading.Thread(target=self._run, name="mock-runtype-engine", daemon=True)
        self._loop.start()

    def _run(self) -> None:
        try:
            self._server.run()
        except OSError:
            if self._server._map:  # sockets still open: a real failure, not the loop ending on close
                raise

    def close(self, grace: float = 0.0) -> None:
        from waitress import wasyncore

        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=grace)
        close_sockets = lambda: wasyncore.close_all(self._server._map)  # noqa: E731 (an empty map ends the loop)
        if self._loop is None:
            close_sockets()
        else:  # sockets belong to the loop's thread: close them there, then wait for it to end
            try:
                self._server.trigger.pull_trigger(close_sockets)
            except OSError:  # a worker's pull woke the loop first: it ran the thunk, trigger included
                pass
            self._loop.join(timeout=1)


def _family(host: str) -> socket.AddressFamily:
    """The address family of the first address `host` resolves to (OSError if none)."""
    return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]


def start_engine(app: Callable, host: str, port: int, threads: int, limits: Settings | None = None) -> Engine:
    """Bind `app` on host:port (OSError if that fails) with `threads` worker threads, guarding the
    connections by `limits` (timeouts, connection and body caps; the defaults when not given)."""
    return WaitressEngine(app, host, port, threads, limits or Settings())


def guarded_waitress(app: Callable, sockets: list[socket.socket], threads: int, limits: Settings) -> Any:
    """Waitress on bound `sockets`, set up to protect the host: idle connections close after
    `idle_timeout_s`, a request still arriving after `request_timeout_s` (a slow or stalled client)
    is dropped, at most `max_connections` are open at once, and poll() (not select()) so that more
    than 1,024 work. A slow client never holds a worker thread: waitress reads whole requests
    before dispatching. So that it does not buffer a huge body first (up to 1 GiB by default),
    waitress itself refuses (with its plain-text 413, unread) a body over twice the larger of the
    app's body limits; bodies between the app's limit and that get the app's JSON 413."""
    from waitress import create_server

    server = create_server(
        app, sockets=sockets, threads=threads, ident="mock-runtype",
        channel_timeout=limits.idle_timeout_s, cleanup_interval=1, connection_limit=limits.max_connections,
        asyncore_use_poll=True, max_request_body_size=2 * max(limits.max_body_bytes, limits.max_upload_bytes))
    drop_slow_requests(server, limits.request_timeout_s)
    return server


def drop_slow_requests(server: Any, seconds: float) -> None:
    """Extend waitress's once-a-second maintenance: close a connection whose current request has
    been arriving for longer than `seconds` (waitress alone only closes connections idle that long,
    so a client sending a byte a second would be kept forever)."""
    first_seen: dict[tuple[int, int], float] = {}
    idle_maintenance = server.maintenance

    def maintenance(now: float) -> None:
        idle_maintenance(now)
        arriving = {}
        for channel in list(server.active_channels.values()):
            request = channel.request
            if request is None or request.completed:
                continue
            key = (id(channel), id(request))
            arriving[key] = first_seen.get(key, now)
            if now - arriving[key] > seconds:
                channel.will_close = True
        first_seen.clear()
        first_seen.update(arriving)

    server.maintenance = maintenance


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def serve(settings: Settings | None = None, sandbox: Sandbox | None = None) -> int:
    """Serve `sandbox` (a fresh one made from `settings`) until SIGTERM or SIGINT (exit 0); 1 if it
    cannot listen. `settings` say how to serve; they default to the sandbox's own.

    The engine runs in a thread; the main thread only waits for a stop signal with `sigwait`,
    the signals blocked everywhere else, so no handler ever interrupts code holding a lock.
    """
    settings = settings or (sandbox.settings if sandbox else Settings())
    logs.configure(settings.log_format, settings.quiet)
    app: Callable = create_app(sandbox or Sandbox(settings))
    if not settings.quiet:
        app = logs.AccessLog(app)
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # inherited by every thread started below
    try:
        try:
            engine = start_engine(app, settings.host, settings.port, settings.threads, settings)
        except OSError as error:
            print(f"mock-runtype: cannot listen on {settings.host}:{settings.port}: {_reason(error)}",
                  file=sys.stderr)
            return 1
        engine.start()
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        url = f"http://{host}:{engine.port}"
        log.info("mock-runtype %s listening on %s (%s, %d threads)", __version__, url, engine.name,
                 settings.threads, extra={"fields": {"url": url, "version": __version__, "engine": engine.name,
                                                     "threads": settings.threads}})
        name = signal.Signals(signal.sigwait(STOP_SIGNALS)).name
        log.info("stopping on %s", name, extra={"fields": {"signal": name}})
        engine.close(grace=SHUTDOWN_GRACE)
        return 0
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _reason(error: OSError) -> str:
    """`Address already in use`, `Name or service not known`, ...: the cause without the details."""
    if isinstance(error.errno, int) and error.errno > 0:
        return os.strerror(error.errno)
    return error.strerror or str(error)
