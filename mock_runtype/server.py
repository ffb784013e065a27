"""Runs the app on a production WSGI server (waitress: pure Python, threaded, one process)."""

from __future__ import annotations

import sys

from mock_runtype.http.app import create_app
from mock_runtype.sandbox import Sandbox, Settings


def serve(host: str = "127.0.0.1", port: int = 8080, settings: Settings | None = None,
          sandbox: Sandbox | None = None) -> int:
    from waitress import create_server

    app = create_app(sandbox or Sandbox(settings))
    try:
        server = create_server(app, host=host, port=port, threads=4, ident="mock-runtype")
    except OSError as error:
        print(f"mock-runtype: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"mock-runtype listening on http://{host}:{port}", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0
