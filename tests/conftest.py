"""Shared fixtures: a real sandbox server on 127.0.0.1, and a fresh tenant for every test."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests

from mock_runtype.sandbox.core import SandboxSettings
from mock_runtype.testing import LocalServer, new_api_key


class RunningServer(LocalServer):
    """A sandbox on a free loopback port (see testing.LocalServer), with raw control API calls."""

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        """A call to the control API (`/__admin{path}`)."""
        return requests.request(method, f"{self.url}/__admin{path}", **kwargs)


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    with RunningServer(SandboxSettings(check_responses=True)) as running:
        yield running


@pytest.fixture
def own_server() -> Iterator[RunningServer]:
    """A server of the test's own, for control operations that are server-wide."""
    with RunningServer() as running:
        yield running


@pytest.fixture
def api_key() -> str:
    """A tenant of its own for each test: open mode makes every new key a new tenant."""
    return new_api_key()


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


@pytest.fixture
def access_log():
    """The access lines written while the test runs, in `text` (default) or `json`: call
    `access_log()` for them, `access_log.configure("json")` to switch. Restored afterwards to
    writing nowhere, as before `mock-runtype serve` configures the log."""
    import io
    import logging

    from mock_runtype.serving import logs

    logger = logging.getLogger("mock_runtype")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    out = io.StringIO()

    class Lines:
        def configure(self, log_format: str = "text") -> None:
            logs.configure(log_format, out=out, err=io.StringIO())

        def __call__(self) -> list[str]:
            logs.flush()
            return out.getvalue().splitlines()

    lines = Lines()
    lines.configure()
    yield lines
    logs.configure(quiet=True)
    logger.handlers[:], logger.level, logger.propagate = saved
