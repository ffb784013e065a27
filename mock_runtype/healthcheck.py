"""`python -m mock_runtype.healthcheck`: exit 0 if the sandbox configured by the environment
answers `GET /health` with `{"status": "ok"}` within 2 s, else print why and exit 1.

The Docker image's HEALTHCHECK runs it (the slim image has no curl). It reads the server's own
variables, MOCK_RUNTYPE_HOST and MOCK_RUNTYPE_PORT; a wildcard host is probed on loopback.
"""

from __future__ import annotations

import json
import os
import sys
from urllib.request import urlopen

from mock_runtype.serving.adapter import ServerSettings

WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def health_url(environ: dict[str, str] | os._Environ) -> str:
    host = environ.get("MOCK_RUNTYPE_HOST", "").strip() or ServerSettings.host
    host = WILDCARDS.get(host, host)
    port = environ.get("MOCK_RUNTYPE_PORT", "").strip() or str(ServerSettings.port)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/health"


def main() -> int:
    url = health_url(os.environ)
    try:
        with urlopen(url, timeout=2) as answer:
            status = json.load(answer).get("status")
    except Exception as error:  # any failure is "unhealthy", said in one line
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1
    if status != "ok":
        print(f"unhealthy: {url} answered status {status!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
