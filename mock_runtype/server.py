"""Runs the app on a production WSGI server: one process, threads (the state is in memory).

`start_engine` is the one place that knows the engine (waitress: pure Python, threaded, steady on
two cores); everything else here is engine-neutral: logging, signals, errors.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any, Callable, Protocol

from mock_runtype import __version__, logs
from mock_runtype.http.app import create_app
from mock_runtype.sandbox import Sandbox, Settings

log = logging.getLogger("mock_runtype")


class Engine(Protocol):
    """A bound, not yet running WSGI server."""

    name: str
    port: int

    def run(self) -> None: ...  # serves until stopped; returns or raises when a signal stops it

    def close(self) -> None: ...


class WaitressEngine:
    name = "waitress"

    def __init__(self, app: Callable, host: str, port: int, threads: int) -> None:
        from waitress import create_server

        self._server: Any = create_server(app, host=host, port=port, threads=threads, ident="mock-runtype")
        self.port = self._server.effective_port

    def run(self) -> None:
        self._server.run()

    def close(self) -> None:
        self._server.close()


def start_engine(app: Callable, host: str, port: int, threads: int) -> Engine:
    """Bind `app` on host:port (OSError if that fails) with `threads` worker threads."""
    return WaitressEngine(app, host, port, threads)


class Stop(BaseException):
    """Raised in the main thread by SIGTERM or SIGINT to leave the serving loop at once."""


def _stop(signum: int, frame: Any) -> None:
    raise Stop(signal.Signals(signum).name)


def serve(settings: Settings | None = None) -> int:
    """Serve a fresh sandbox until SIGTERM or SIGINT (exit 0); 1 if it cannot listen."""
    settings = settings or Settings()
    logs.configure(settings.log_format, settings.quiet)
    app: Callable = create_app(Sandbox(settings))
    if not settings.quiet:
        app = logs.AccessLog(app)
    try:
        engine = start_engine(app, settings.host, settings.port, settings.threads)
    except OSError as error:
        reason = error.strerror or str(error)
        print(f"mock-runtype: cannot listen on {settings.host}:{settings.port}: {reason}", file=sys.stderr)
        return 1
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    url = f"http://{host}:{engine.port}"
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        log.info("mock-runtype %s listening on %s (%s, %d threads)", __version__, url, engine.name,
                 settings.threads, extra={"fields": {"url": url, "version": __version__, "engine": engine.name,
                                                     "threads": settings.threads}})
        engine.run()
    except Stop as stop:
        log.info("stopping on %s", stop, extra={"fields": {"signal": str(stop)}})
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.close()
    return 0
