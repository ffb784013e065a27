"""The pytest plugin: a sandbox for the session, a fresh tenant for every test.

Installed with the package (entry point `pytest11: mock_runtype`; disable with `-p no:mock_runtype`).

- `runtype_mock`: the test's handle on the sandbox: `url`, its own `api_key`, and the control API
  scoped to that key (fixtures, journal, scenarios, clock, state, reset). Every test gets a new
  key, so tests never see each other's data and need no global reset, also under pytest-xdist.
  On the plugin's own server, every tenant a test's requests reached (a fixed key the code under
  test is configured with, say) is reset after it too; an external server may serve others, so
  there only the test's own key and its fixture files' tenants are.
- `runtype_client`: a `runtype-sdk` RuntypeClient pointed at the sandbox with the test's key,
  its typed layer making no retries unless `--runtype-sdk-retries N` says (the test errors with
  the install command when the SDK is not installed).
- `@pytest.mark.runtype_fixtures("file.yaml", ...)`: load fixture files for one test; the tenants
  they declare are reset to their fixture state before it, by tenant.
- Contract violations: a test whose requests the sandbox answered with a validation error, an
  unknown route or a wrong method fails (or warns: `--runtype-violations=warn`), listing them,
  unless inside `runtype_mock.expect_errors()` or marked `@pytest.mark.runtype_expect_errors`.
  Contract warnings (unknown fields the sandbox ignored) do the same (`--runtype-warnings`).
- `--runtype-url URL` (or `MOCK_RUNTYPE_URL`): use a running sandbox instead of starting one.
- `runtype_inprocess`: the in-process mode (`mock_runtype.mock()`) for one test: the code under
  test calls https://api.runtype.com unchanged and a fresh sandbox in this process answers; the
  markers and the contract check above apply to it too.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from mock_runtype.testing.helpers import (
    CONTRACT_WARNING,
    AdminError,
    Control,
    ExpectedErrors,
    LocalServer,
    TenantControl,
    WatchedTenant,
    Violation,
    new_api_key,
)

if TYPE_CHECKING:
    from mock_runtype.testing.inprocess import InProcessMock

URL_ENV = "MOCK_RUNTYPE_URL"
ADMIN_TOKEN_ENV = "MOCK_RUNTYPE_ADMIN_TOKEN"
VIOLATION_MODES = ("fail", "warn", "off")

_mock_key = pytest.StashKey["RuntypeMock"]()
_inprocess_key = pytest.StashKey["InProcessMock"]()
_server_key = pytest.StashKey["RuntypeServer"]()  # the plugin's own server, while it runs


class RuntypeContractWarning(UserWarning):
    """A test's requests broke the API contract (issued instead of a failure in `warn` mode)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mock-runtype", "mock-runtype sandbox")
    group.addoption(
        "--runtype-url",
        default=None,
        help=f"use the mock-runtype server at this URL instead of starting one (env {URL_ENV})",
    )
    group.addoption(
        "--runtype-admin-token",
        default=None,
        help=f"token for that server's control API when it was started with --admin-token (env {ADMIN_TOKEN_ENV})",
    )
    group.addoption(
        "--runtype-violations",
        choices=VIOLATION_MODES,
        default=None,
        help="what a test whose requests broke the API contract does: fail (default), warn or off",
    )
    group.addoption(
        "--runtype-sdk-retries",
        type=int,
        default=None,
        help="retries the typed layer of runtype_client makes on a 409, 429 or 5xx (default 0: none)",
    )
    parser.addini("runtype_violations", "fail (default), warn or off: see --runtype-violations", default="fail")
    parser.addini("runtype_sdk_retries", "retries of runtype_client's typed layer: see --runtype-sdk-retries",
                  default="0")
    group.addoption(
        "--runtype-warnings",
        choices=VIOLATION_MODES,
        default=None,
        help="what a test whose requests sent fields the sandbox ignored (contract warnings) does: "
             "fail (default), warn or off",
    )
    parser.addini("runtype_warnings", "fail (default), warn or off: see --runtype-warnings", default="fail")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "runtype_fixtures(*paths): load these mock-runtype fixture files for this test"
    )
    config.addinivalue_line(
        "markers",
        "runtype_expect_errors: this test expects the sandbox to answer contract violations (400/404/405)",
    )
    _sdk_retries(config)
    for name, mode in (("runtype_violations", _violation_mode(config)), ("runtype_warnings", _warning_mode(config))):
        if mode not in VIOLATION_MODES:
            raise pytest.UsageError(f"{name} must be one of {', '.join(VIOLATION_MODES)}, not {mode!r}")


def _external_url(config: pytest.Config) -> str | None:
    return config.getoption("--runtype-url") or os.environ.get(URL_ENV) or None


def _sdk_retries(config: pytest.Config) -> int:
    value = config.getoption("--runtype-sdk-retries")
    if value is None:
        text = config.getini("runtype_sdk_retries")
        if not str(text).isdigit():
            raise pytest.UsageError(f"runtype_sdk_retries must be a whole number, not {text!r}")
        value = int(text)
    if value < 0:
        raise pytest.UsageError(f"--runtype-sdk-retries must be 0 or more, not {value}")
    return value


def _violation_mode(config: pytest.Config) -> str:
    return config.getoption("--runtype-violations") or config.getini("runtype_violations")


def _warning_mode(config: pytest.Config) -> str:
    return config.getoption("--runtype-warnings") or config.getini("runtype_warnings")


def pytest_report_header(config: pytest.Config) -> str:
    url = _external_url(config)
    where = f"the sandbox at {url}" if url else "its own sandbox on 127.0.0.1 when a test asks for one"
    return (f"mock-runtype: {where}; contract violations: {_violation_mode(config)}; "
            f"contract warnings: {_warning_mode(config)}")


class RuntypeMock(WatchedTenant):
    """One test's view of the sandbox: its URL, its own API key, the control API for that key."""

    def __init__(self, control: Control, api_key: str, local: LocalServer | None, *, sdk_retries: int = 0) -> None:
        super().__init__(control, api_key)
        self.url = control.url
        self._local = local
        self.sdk_retries = sdk_retries
        self._expected = ExpectedErrors([self])
        self._clients: list[Any] = []

    @property
    def headers(self) -> dict[str, str]:
        """`Authorization` for the test's key, to add to any HTTP client's requests."""
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def sandbox(self):
        """The in-process Sandbox object when the plugin started the server (None for --runtype-url)."""
        return self._local.sandbox if self._local else None

    def sdk_client(self, api_key: str | None = None, *, retries: int | None = None) -> Any:
        """A runtype-sdk RuntypeClient pointed at the sandbox with `api_key` (default: the test's),
        closed when the test ends. Its typed layer (`client.api`) retries `retries` times (default:
        the plugin's `--runtype-sdk-retries`, 0), since the SDK's own default of two retries makes a
        409 take seconds and waits out a rate limit's whole `Retry-After`."""
        client = _sdk_client_class()(api_key=api_key or self.api_key, base_url=self.url)
        client.max_retries = self.sdk_retries if retries is None else retries
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        while self._clients:
            self._clients.pop().close()

    def test_client(self) -> Any:
        """A Flask test client of the in-process sandbox, already sending this test's key: no
        socket involved. Only when the plugin started the server (not with --runtype-url)."""
        if self._local is None:
            raise RuntimeError("test_client() needs the plugin's own server; --runtype-url names an external one")
        client = self._local.app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {self.api_key}"
        return client

    def load_fixtures(self, source: str | Path | dict[str, Any]) -> list[str]:
        """Load a fixture document; the tenants it declares become this test's (see `declare`)."""
        keys = super().load_fixtures(source)
        self.declare(keys)
        return keys

    @property
    def tenants(self) -> list[TenantControl]:
        """The test's tenants: its own key first, then those of the fixture files it loads."""
        return self._expected.tenants

    def declare(self, api_keys: list[str]) -> None:
        """Count these tenants (a fixture file's) as the test's own: reset to start, checked, reset after."""
        known = {t.api_key for t in self.tenants}
        self.tenants.extend(self.tenant(key) for key in api_keys if key not in known)

    def unexpected_violations(self) -> list[Violation]:
        """The test's tenants' violations outside its `expect_errors()` blocks."""
        return [found for found in self._expected.unexpected() if found.kind != CONTRACT_WARNING]

    def unexpected_warnings(self) -> list[Violation]:
        """The test's tenants' contract warnings (ignored unknown fields) outside its `expect_errors()` blocks."""
        return [found for found in self._expected.unexpected() if found.kind == CONTRACT_WARNING]


def _sdk_client_class() -> type:
    """RuntypeClient, its typed layer made with `max_retries` retries; a test error naming the
    install command when the SDK is missing (a skip would let a CI run pass green untested)."""
    try:
        import runtype
    except ImportError:
        pytest.fail("mock-runtype: runtype_client needs runtype-sdk: pip install runtype-sdk", pytrace=False)
    return _without_retries(runtype.RuntypeClient)


@functools.cache
def _without_retries(base: type) -> type:
    sdk_module = sys.modules[base.__module__]

    class RuntypeClient(base):
        max_retries = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            with _sharing_ssl_context(sdk_module):
                super().__init__(*args, **kwargs)

        @property
        def api(self) -> Any:
            with _sharing_ssl_context(sdk_module):
                api = super().api
            api._client_wrapper.httpx_client.base_max_retries = self.max_retries  # the SDK takes no option for it
            return api

    return RuntypeClient


_sdk_patch_lock = threading.Lock()


@contextlib.contextmanager
def _sharing_ssl_context(sdk_module: Any) -> Iterator[None]:
    """While the SDK builds its httpx clients, they share one SSL context: each would otherwise
    load the CA bundle again (about 20 ms a client, even for an http:// URL), and the SDK's
    constructor takes no transport or client. Only the SDK module's name `httpx` is swapped."""
    with _sdk_patch_lock:
        original = sdk_module.httpx
        sdk_module.httpx = _SharedContextHttpx(original)
        try:
            yield
        finally:
            sdk_module.httpx = original


class _SharedContextHttpx:
    """`httpx` as the SDK module sees it while the plugin builds a client: a Client given no
    `verify` gets the session's SSL context, made once as httpx makes its default."""

    def __init__(self, httpx: Any) -> None:
        self._httpx = httpx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._httpx, name)

    def Client(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - httpx's name
        kwargs.setdefault("verify", _shared_ssl_context())
        return self._httpx.Client(*args, **kwargs)


@functools.cache
def _shared_ssl_context() -> Any:
    import httpx

    return httpx.create_ssl_context()


class RuntypeServer:
    """The session's sandbox: its control API, the server the plugin started (if it did), and the
    fixture files loaded into it so far (each file once a session; tests reset its tenants)."""

    def __init__(self, control: Control, local: LocalServer | None = None) -> None:
        self.control = control
        self.local = local
        self._fixture_tenants: dict[Path, list[str]] = {}
        self._journal_mark = 0  # the journal entry up to which `reset_touched` has looked

    @property
    def url(self) -> str:
        return self.control.url

    def reset_touched(self, done: list[str]) -> None:
        """Reset every tenant that requests reached since the last call, but those of the keys
        `done` (reset already): what a test did under a fixed key (the one the code under test
        is configured with) is gone before the next test. Only for the plugin's own server, where
        every request is one of this session's tests (an external one may serve others)."""
        if self.local is None:
            return
        sandbox = self.local.sandbox
        since, self._journal_mark = self._journal_mark, sandbox.journal.last_seq
        skipped = {sandbox.partition_of(key) for key in done}
        for tenant_key in sandbox.journal.tenants_since(since) - skipped:
            sandbox.reset(tenant_key)

    def load_fixture_file(self, path: Path) -> list[str]:
        """Load `path` unless it is loaded already; the keys of the tenants it declares."""
        path = path.resolve()
        if path not in self._fixture_tenants:
            try:
                self._fixture_tenants[path] = self.control.load_fixtures(path)
            except AdminError as error:
                raise AdminError(f"{path}: {error}", error.status, error.body) from None
        return self._fixture_tenants[path]


@pytest.fixture(scope="session")
def runtype_server(pytestconfig: pytest.Config) -> Iterator[RuntypeServer]:
    """The sandbox of the session: the one `--runtype-url` names, else one started on a free port."""
    url = _external_url(pytestconfig)
    token = pytestconfig.getoption("--runtype-admin-token") or os.environ.get(ADMIN_TOKEN_ENV)
    if not url:
        with LocalServer() as local:
            server = pytestconfig.stash[_server_key] = RuntypeServer(Control(local.url), local)
            try:
                yield server
            finally:
                del pytestconfig.stash[_server_key]
        return
    control = Control(url, admin_token=token)
    problem = None
    try:
        control.check()
    except AdminError as error:
        problem = f"mock-runtype: {error}"
        if error.status == 401:
            problem += f" (--runtype-admin-token or {ADMIN_TOKEN_ENV})"
    if problem:
        pytest.fail(problem, pytrace=False)
    yield RuntypeServer(control)


@pytest.fixture
def runtype_mock(runtype_server: RuntypeServer, request: pytest.FixtureRequest) -> Iterator[RuntypeMock]:
    """This test's tenant on the session's sandbox (see the module docstring)."""
    mock = RuntypeMock(runtype_server.control, new_api_key(), runtype_server.local,
                       sdk_retries=_sdk_retries(request.config))
    problem = None
    try:
        for path in _marker_fixture_paths(request):
            mock.declare(runtype_server.load_fixture_file(path))
        for tenant in mock.tenants[1:]:
            tenant.reset()
    except AdminError as error:
        problem = f"mock-runtype: {error}"
    if problem:
        pytest.fail(problem, pytrace=False)
    request.node.stash[_mock_key] = mock
    yield mock
    mock.close_clients()
    mock.forget()
    for tenant in mock.tenants[1:]:
        tenant.reset()


@pytest.fixture
def runtype_client(runtype_mock: RuntypeMock) -> Any:
    """A runtype-sdk RuntypeClient pointed at the sandbox with this test's key, without retries."""
    return runtype_mock.sdk_client()


@pytest.fixture
def runtype_inprocess(request: pytest.FixtureRequest) -> Iterator[InProcessMock]:
    """A fresh sandbox in this process answering https://api.runtype.com for httpx and requests,
    with the test's `runtype_fixtures` files loaded; its handle (see `mock_runtype.mock`)."""
    from mock_runtype.testing.inprocess import mock

    handle = mock(*_marker_fixture_paths(request))
    try:
        handle.start()
    except AdminError as error:
        pytest.fail(f"mock-runtype: {error}", pytrace=False)
    request.node.stash[_inprocess_key] = handle
    try:
        yield handle
    finally:
        handle.stop()


def _marker_fixture_paths(request: pytest.FixtureRequest) -> list[Path]:
    """The files every `runtype_fixtures` marker of the test names, relative to the test's file."""
    base = Path(request.node.path).parent
    paths = []
    for marker in request.node.iter_markers("runtype_fixtures"):
        for name in marker.args:
            path = Path(name)
            if not path.is_absolute():
                path = base / path if (base / path).exists() else request.config.rootpath / path
            if not path.exists():
                where = f"beside {request.node.path.name} and in {request.config.rootpath}"
                pytest.fail(f"mock-runtype: fixture file {name} not found ({where})", pytrace=False)
            paths.append(path)
    return paths


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """After the test's fixtures are torn down: reset what its requests created under any key on
    the plugin's own server (see `RuntypeServer.reset_touched`)."""
    try:
        return (yield)
    finally:
        server = item.config.stash.get(_server_key, None)
        if server is not None:
            mock = item.stash.get(_mock_key, None)
            server.reset_touched(done=[tenant.api_key for tenant in mock.tenants] if mock else [])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After the test body: fail (or warn about) the contract violations its tenants were answered."""
    try:
        result = yield
    except BaseException:
        _report_violations(item, test_failed=True)
        raise
    _report_violations(item, test_failed=False)
    return result


def _report_violations(item: pytest.Item, *, test_failed: bool) -> None:
    """Fail the test listing its violations and contract warnings; when it failed already, or in
    warn mode, only tell. Each kind follows its own mode."""
    mocks = {name: item.stash.get(key, None) for name, key in
             (("runtype_mock", _mock_key), ("runtype_inprocess", _inprocess_key))}
    modes = {"violation": _violation_mode(item.config), "warning": _warning_mode(item.config)}
    if not any(mocks.values()) or set(modes.values()) == {"off"} or item.get_closest_marker("runtype_expect_errors"):
        return
    kinds = [kind for kind, mode in modes.items() if mode != "off"]
    failures = []
    for name, mock in mocks.items():
        if mock is None:
            continue
        for kind, message in _violations_messages(mock, kinds, name).items():
            if modes[kind] == "warn":
                warnings.warn(RuntypeContractWarning(message), stacklevel=1)
            elif test_failed:
                item.add_report_section("call", f"mock-runtype contract {kind}s", message)
            else:
                failures.append(message)
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def _violations_messages(mock: RuntypeMock | InProcessMock, kinds: list[str],
                         fixture: str = "runtype_mock") -> dict[str, str]:
    """What to tell about the test's unexpected violations and warnings, by kind (those it has)."""
    try:
        found = mock._expected.unexpected()
    except AdminError as error:
        return {kinds[0]: f"mock-runtype: could not read the request journal: {error}"}
    groups = {"violation": [f for f in found if f.kind != CONTRACT_WARNING],
              "warning": [f for f in found if f.kind == CONTRACT_WARNING]}
    answered = {"violation": "as contract violation", "warning": "ignoring some of what it sent, with contract warning"}
    messages = {}
    for kind in kinds:
        if not groups[kind]:
            continue
        many = len(groups[kind]) != 1
        messages[kind] = "\n".join([
            f"mock-runtype: the sandbox answered {len(groups[kind])} request{'s' if many else ''} of this test "
            f"{answered[kind]}{'s' if many else ''} (wrap expected ones in {fixture}.expect_errors() "
            "or mark the test runtype_expect_errors):",
            *(f"  {entry}" for entry in groups[kind]),
        ])
    return messages
