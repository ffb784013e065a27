"""Shared fixtures: a real sandbox server on 127.0.0.1, and a fresh tenant for every test."""

from __future__ import annotations

import socket
import threading
import uuid
from typing import Iterator

import pytest
import requests

from mock_runtype.http.app import create_app
from mock_runtype.logs import AccessLog
from mock_runtype.sandbox import Sandbox, Settings
from mock_runtype.server import guarded_waitress


class RunningServer:
    """A sandbox served by waitress on a free loopback port, in a background thread."""

    def __init__(self, settings: Settings | None = None, *, access_log: bool = False) -> None:
        """`access_log` wraps the app in the access log, as `mock-runtype serve` does."""
        self.sandbox = Sandbox(settings)
        app = create_app(self.sandbox)
        listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._server = guarded_waitress(AccessLog(app) if access_log else app, [listener], 8, self.sandbox.settings)
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        self._closing = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._server.run()
        except OSError:
            if not self._closing:  # closing the sockets under waitress's loop ends it so
                raise

    def close(self) -> None:
        self._closing = True
        self._server.close()

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        """A call to the control API (`/__admin{path}`)."""
        return requests.request(method, f"{self.url}/__admin{path}", **kwargs)


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    running = RunningServer(Settings(check_responses=True))
    yield running
    running.close()


@pytest.fixture
def own_server() -> Iterator[RunningServer]:
    """A server of the test's own, for control operations that are server-wide."""
    running = RunningServer()
    yield running
    running.close()


@pytest.fixture
def api_key() -> str:
    """A tenant of its own for each test: open mode makes every new key a new tenant."""
    return f"rt_test_{uuid.uuid4().hex}"


@pytest.fixture
def http(server: RunningServer, api_key: str) -> Iterator[requests.Session]:
    """A requests session against the server, authenticated as this test's tenant."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    session.base_url = server.url  # type: ignore[attr-defined]
    yield session
    session.close()


def url(session: requests.Session, path: str) -> str:
    return session.base_url + path  # type: ignore[attr-defined]
