"""Runs the app on the engine (`mock_runtype.serving.engine`): one process, as the state is in memory.

`start_engine` binds it; `serve` adds logging, signals and the errors a user sees.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from typing import Callable

from mock_runtype import __version__

from mock_runtype.serving import logs
from mock_runtype.serving.engine import AsyncEngine
from mock_runtype.http.app import create_app
from mock_runtype.sandbox.core import Sandbox, Settings

log = logging.getLogger("mock_runtype")
SHUTDOWN_GRACE = 0.5  # seconds a request being answered gets to finish (and be logged) on a stop


def _family(host: str) -> socket.AddressFamily:
    """The address family of the first address `host` resolves to (OSError if none)."""
    return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]


def start_engine(app: Callable, host: str, port: int, threads: int, limits: Settings | None = None) -> AsyncEngine:
    """Bind `app` on host:port (OSError if that fails), with `threads` workers for the requests the
    app sends off the loop, guarding the connections by `limits` (timeouts, connection and body
    caps; the defaults when not given). A body over twice the larger of the app's body limits is
    refused by the engine from its headers; bodies between the app's limit and that get the app's
    own 413, which names the limit."""
    limits = limits or Settings()
    # One socket on the first address `host` resolves to, bound here so that every failure to
    # listen (unknown host, port in use, no permission) is an OSError.
    sock = socket.create_server((host, port), family=_family(host), backlog=1024)
    return AsyncEngine(app, sock, threads, body_cap=2 * max(limits.max_body_bytes, limits.max_upload_bytes),
                       idle_timeout_s=limits.idle_timeout_s, request_timeout_s=limits.request_timeout_s,
                       max_connections=limits.max_connections)


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
