"""Runs the app on a production WSGI server (waitress: pure Python, threaded, one process)."""

from __future__ import annotations

import sys
import time
from typing import Any

from waitress import create_server
from waitress.server import BaseWSGIServer

from mock_runtype.http.app import create_app
from mock_runtype.sandbox import Sandbox, Settings


def serve(host: str = "127.0.0.1", port: int = 8080, settings: Settings | None = None,
          sandbox: Sandbox | None = None) -> int:
    sandbox = sandbox or Sandbox(settings)
    try:
        server = create_waitress(create_app(sandbox), host, port, sandbox.settings)
    except OSError as error:
        print(f"mock-runtype: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"mock-runtype listening on http://{host}:{port}", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0


def create_waitress(app: Any, host: str, port: int, settings: Settings, threads: int = 4) -> BaseWSGIServer:
    """Waitress set up to protect the host: idle connections close after `idle_timeout_s`, a request
    still arriving after `request_timeout_s` (a slow or stalled client) is dropped, at most
    `max_connections` are open at once, and poll() (not select()) so that more than 1,024 work.
    A slow client never holds a worker thread: waitress reads whole requests before dispatching.
    So that it does not buffer a huge body first (up to 1 GiB by default), waitress itself refuses
    (with its plain-text 413, unread) a body over twice the larger of the app's body limits; bodies
    between the app's limit and that get the app's JSON 413."""
    body_cap = 2 * max(settings.max_body_bytes, settings.max_upload_bytes)
    server = create_server(app, host=host, port=port, threads=threads, ident="mock-runtype",
                           channel_timeout=settings.idle_timeout_s, cleanup_interval=1,
                           connection_limit=settings.max_connections, asyncore_use_poll=True,
                           max_request_body_size=body_cap)
    drop_slow_requests(server, settings.request_timeout_s)
    return server


def drop_slow_requests(server: BaseWSGIServer, seconds: float) -> None:
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
            arriving[key] = first_seen.get(key, time.time())
            if now - arriving[key] > seconds:
                channel.will_close = True
        first_seen.clear()
        first_seen.update(arriving)

    server.maintenance = maintenance  # type: ignore[method-assign]
