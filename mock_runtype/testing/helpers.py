"""Driving a sandbox from tests: a server in a background thread, the control API per tenant.

The pytest plugin (`mock_runtype/testing/pytest_plugin.py`) is built on these; they work from any test
framework too. Only the standard library talks HTTP here, so the package needs no HTTP client.
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

import yaml

from mock_runtype.http.app import create_app
from mock_runtype.sandbox.core import Sandbox, SandboxSettings
from mock_runtype.serving.adapter import ServerSettings, bind

ADMIN = "/__admin"


class LocalServer:
    """A sandbox on a free 127.0.0.1 port (or the one given), served as `mock-runtype serve`
    serves it (`mock_runtype.serving.adapter`), from background threads."""

    def __init__(self, settings: SandboxSettings | None = None, *, port: int = 0, threads: int = 8,
                 access_log: bool = False, server: ServerSettings | None = None) -> None:
        """`access_log` logs each request, as `mock-runtype serve` does; `server` sets the
        connections' limits (its host and port are this server's own)."""
        self.sandbox = Sandbox(settings)
        self.app = create_app(self.sandbox)
        listen = replace(server or ServerSettings(), host="127.0.0.1", port=port, threads=threads)
        self._server = bind(self.app, listen, access_log=access_log)
        self._server.start()
        self.url = f"http://127.0.0.1:{self._server.port}"

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def new_api_key(prefix: str = "rt_test_") -> str:
    """A key no other test, worker or run uses: in open mode, a tenant of its own."""
    return f"{prefix}{uuid.uuid4().hex}"


class AdminError(Exception):
    """A control API call was refused or could not be made."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class Control:
    """The control API (`/__admin`) of the sandbox at `url`."""

    def __init__(self, url: str, *, admin_token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.admin_token = admin_token
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        json_body: Any = None,
        raw_body: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """`method` on `/__admin{path}`; the decoded JSON answer, or AdminError on a non-2xx."""
        params = {k: v for k, v in (query or {}).items() if v is not None}
        target = f"{self.url}{ADMIN}{path}" + (f"?{urlencode(params, doseq=True)}" if params else "")
        data = raw_body if raw_body is not None else (None if json_body is None else json.dumps(json_body).encode())
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        if self.admin_token:
            headers["Authorization"] = f"Bearer {self.admin_token}"
        try:
            with urlopen(Request(target, data=data, method=method, headers=headers), timeout=self.timeout) as answer:
                text = answer.read().decode("utf-8")
        except HTTPError as error:
            body = _decode(error.read().decode("utf-8", "replace"))
            message = f"{method} {ADMIN}{path} answered {error.code}: {_error_text(body)}"
            raise AdminError(message, error.code, body) from None
        except (URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise AdminError(f"cannot reach the sandbox at {self.url}: {reason}") from None
        return _decode(text)

    def check(self) -> dict[str, Any]:
        """`GET /health`, then a read of the control API: raises AdminError unless a sandbox
        answers at the URL and lets this client in. Returns the health answer."""
        try:
            with urlopen(f"{self.url}/health", timeout=self.timeout) as answer:
                body = _decode(answer.read().decode("utf-8"))
        except (URLError, OSError) as error:
            raise AdminError(f"no sandbox answers at {self.url}: {getattr(error, 'reason', error)}") from None
        if not isinstance(body, dict) or body.get("status") != "ok":
            raise AdminError(f"{self.url}/health did not answer like mock-runtype: {body!r}")
        try:
            self.call("GET", "/clock")
        except AdminError as error:
            if error.status != 401:
                raise
            hint = "the token given is refused" if self.admin_token else "give its admin token"
            raise AdminError(f"the sandbox at {self.url} guards its control API: {hint}", 401) from None
        return body

    def tenant(self, api_key: str) -> TenantControl:
        return TenantControl(self, api_key)

    def load_fixtures(self, source: str | Path | dict[str, Any], *, tenant: str | None = None) -> list[str]:
        """Load a fixture document (a path to a YAML/JSON file, YAML text, or a dict) into the
        sandbox; returns the API keys of the tenants it declares."""
        if isinstance(source, dict):
            document, body, content_type = source, json.dumps(source).encode(), "application/json"
        else:
            body = Path(source).read_bytes() if isinstance(source, Path) else source.encode("utf-8")
            document, content_type = yaml.safe_load(body) or {}, "application/yaml"
        self.call("POST", "/fixtures", query={"tenant": tenant}, raw_body=body, content_type=content_type)
        return declared_tenants(document)


def _decode(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return text


CONTRACT_WARNING = "contract_warning"


@dataclass(frozen=True)
class Violation:
    """A request the sandbox answered as a breach of the API contract: a violation (refused), or
    a contract warning (kind `contract_warning`: answered, with unknown fields ignored)."""

    method: str
    path: str
    status: int
    kind: str
    error: str

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> Violation:
        query = entry.get("query") or ""
        if isinstance(query, dict):
            query = urlencode(query, doseq=True)
        path = entry.get("path", "?") + (f"?{query}" if query else "")
        if entry.get("violation"):
            return cls(entry.get("method", "?"), path, entry.get("status", 0), entry["violation"],
                       _error_text(entry.get("response")))
        return cls(entry.get("method", "?"), path, entry.get("status", 0), CONTRACT_WARNING,
                   str(entry.get("contractWarning") or ""))

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status} ({self.kind.replace('_', ' ')}): {self.error}"


def _error_text(answer: Any) -> str:
    """An error answer's message, with each detail (its line too, for a fixture problem) below it."""
    if not isinstance(answer, dict):
        return str(answer or "")
    text = str(answer.get("error", ""))
    for detail in answer.get("details") or []:
        line = f"line {detail['line']}: " if detail.get("line") else ""
        text += f"\n      {line}{detail.get('path') or '(body)'}: {detail.get('message')}"
    return text


def declared_tenants(document: Any) -> list[str]:
    """The API keys of the tenants a fixture document declares."""
    tenants = document.get("tenants") if isinstance(document, dict) else None
    return [t["apiKey"] for t in tenants or [] if isinstance(t, dict) and isinstance(t.get("apiKey"), str)]


class TenantControl:
    """The control API scoped to one tenant (`?tenant=<apiKey>`: the data of that key's user, which
    its other keys share): never touches another tenant."""

    def __init__(self, control: Control, api_key: str) -> None:
        self.control = control
        self.api_key = api_key

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        query = {"tenant": self.api_key, **kwargs.pop("query", {})}
        return self.control.call(method, path, query=query, **kwargs)

    def reset(self) -> None:
        """Back to this tenant's fixture state (none: empty); its journal and counters too."""
        self._call("POST", "/reset")

    def load_fixtures(self, source: str | Path | dict[str, Any]) -> list[str]:
        """Load a fixture document scoped to this tenant; the keys of the tenants it declares."""
        return self.control.load_fixtures(source, tenant=self.api_key)

    def requests(self, *, method: str | None = None, path: str | None = None, status: int | None = None) -> list[dict[str, Any]]:
        """The journal of this tenant's requests, oldest first (`path` is a glob, as in scenarios)."""
        return self._call("GET", "/requests", query={"method": method, "path": path, "status": status})["requests"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def state(self) -> dict[str, Any]:
        """This tenant's data as a fixture document that loads back to the same state."""
        return self._call("GET", "/state")

    def forget(self) -> None:
        """Drop the fixture documents loaded for this tenant, then reset it (to nothing)."""
        self._call("DELETE", "/fixtures")

    def scenarios(self) -> list[dict[str, Any]]:
        """The scenarios that apply to this tenant, with its counts (`matched`, `fired`)."""
        return self._call("GET", "/scenarios")["scenarios"]

    def add_scenario(self, scenario: dict[str, Any]) -> dict[str, Any]:
        """Add a scenario that applies to this tenant alone."""
        return self._call("POST", "/scenarios", json_body=scenario)

    def remove_scenario(self, name: str) -> None:
        self._call("DELETE", f"/scenarios/{quote(name, safe='')}")

    def clock(self) -> dict[str, Any]:
        """`{"now", "controlled"}` of this tenant's clock."""
        return self._call("GET", "/clock")

    def set_clock(self, moment: str) -> dict[str, Any]:
        """Freeze this tenant's clock at an ISO 8601 date-time (other tenants keep theirs)."""
        return self._call("POST", "/clock", json_body={"set": moment})

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move this tenant's controlled clock forward."""
        return self._call("POST", "/clock", json_body={"advanceMs": round(seconds * 1000)})


class WatchedTenant(TenantControl):
    """A test's own tenant, whose requests are watched for contract violations (`_expected`):
    what the pytest plugin's `runtype_mock` and the in-process `mock()` hand a test."""

    _expected: ExpectedErrors

    def tenant(self, api_key: str) -> TenantControl:
        """The control API scoped to another tenant, e.g. one a fixture file declares."""
        return TenantControl(self.control, api_key)

    @contextmanager
    def expect_errors(self) -> Iterator[None]:
        """Requests made inside this block may be answered with contract violations."""
        with self._expected.span():
            yield


class ExpectedErrors:
    """The contract violations and warnings some tenants' journals hold, less those in spans a
    test expected.

    A span is a range of journal entry ids (they grow with every request the sandbox journals),
    so it holds even when the bounded journal drops old entries."""

    def __init__(self, tenants: list[TenantControl]) -> None:
        self.tenants = tenants
        self._spans: list[dict[str, tuple[int, int]]] = []

    def _last_ids(self) -> dict[str, int]:
        return {t.api_key: max((e["id"] for e in t.requests()), default=0) for t in self.tenants}

    @contextmanager
    def span(self) -> Iterator[None]:
        """Requests made inside the block are expected to fail."""
        starts = self._last_ids()
        try:
            yield
        finally:
            ends = self._last_ids()
            self._spans.append({key: (starts.get(key, 0), end) for key, end in ends.items()})

    def unexpected(self) -> list[Violation]:
        found = []
        seen: set[int] = set()  # two keys of one user read the same journal: each entry counts once
        for tenant in self.tenants:
            spans = [span[tenant.api_key] for span in self._spans if tenant.api_key in span]
            for entry in tenant.requests():
                if entry["id"] in seen:
                    continue
                seen.add(entry["id"])
                if (entry.get("violation") or entry.get("contractWarning")) and not any(start < entry["id"] <= end for start, end in spans):
                    found.append(Violation.from_entry(entry))
        return found
