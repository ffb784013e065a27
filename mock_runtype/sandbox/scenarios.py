"""Scenarios: rules that make the sandbox answer differently for matching requests.

A scenario has a matcher (`when`: method, glob path, tenant, query, headers, body), a gate
(`after`, `every`, `probability`, `times`) and what it does: `respond` with a status, body and
headers, `delayMs` before going on, `rateLimit` (429 with Retry-After past a limit), or a `fault`
(connection_reset, empty_response, malformed_json). Counters are kept per tenant, so tests that
run in parallel under different keys never consume each other's `times` or rate limit, and no
counter is dropped while its scenario exists. Bounded all the same: past MAX_COUNTED_TENANTS
tenants, a new tenant that keeps nothing (no records, declaration, scenarios or clock of its own)
counts in one count shared by all such, while a tenant in use always gets its own. A
scenario may be scoped to one tenant: it then applies to that tenant's requests alone.

`Scenarios.decide(exchange)` is the one entry point; it returns an Outcome and never sleeps or
touches the network, so the HTTP layer can act on it outside any lock. Pure Python.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from mock_runtype.model.clock import Clock
from mock_runtype.model.errors import Conflict, NotFound
from mock_runtype.sandbox.exchange import Exchange, Glob, normalize_path

MALFORMED_JSON_BODY = b'{"data": [{"id": "'


def contains_json(actual: Any, expected: Any) -> bool:
    """Whether `actual` holds `expected`: objects match on the keys `expected` lists (recursively),
    everything else must be equal (1 and 1.0 are equal, true and 1 are not)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains_json(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return expected == actual


_NO_BODY = object()


def _as_text(value: Any) -> str:
    """A matcher value as the text it stands for on the wire: YAML's `true` is `"true"`, `5` is `"5"`."""
    return value if isinstance(value, str) else json.dumps(value)


MAX_COUNTED_TENANTS = 10_000  # per scenario: past this, new tenants that keep nothing share one count

class Matcher:
    """`when`: every part given must match; an empty `when` matches every request."""

    def __init__(self, when: Mapping[str, Any]) -> None:
        methods = when.get("method")
        if isinstance(methods, str):
            methods = [methods]
        self.methods = frozenset(m.upper() for m in methods) if methods else None
        self.path = Glob(normalize_path(when["path"]), segments=True) if "path" in when else None
        self.tenant_key = when.get("tenant")
        self.query = {name: Glob(_as_text(value), segments=False) for name, value in (when.get("query") or {}).items()}
        self.headers = {name.lower(): Glob(_as_text(value), segments=False)
                        for name, value in (when.get("headers") or {}).items()}
        self.body = when.get("body", _NO_BODY)

    def matches(self, exchange: Exchange, parsed_body: Callable[[], Any],
                partition_of: Callable[[str], str] = lambda api_key: api_key) -> bool:
        """`partition_of(api_key)`: the tenant a key reaches, so that `when.tenant` names any key
        of a user and matches the requests of all its keys."""
        if self.methods is not None and exchange.method.upper() not in self.methods:
            return False
        if self.path is not None and not self.path.match(normalize_path(exchange.path)):
            return False
        if self.tenant_key is not None and exchange.tenant_key != partition_of(self.tenant_key):
            return False
        for name, pattern in self.query.items():
            if not any(pattern.match(value) for value in exchange.query.get(name, ())):
                return False
        for name, pattern in self.headers.items():
            value = exchange.headers.get(name)
            if value is None or not pattern.match(value):
                return False
        return self.body is _NO_BODY or contains_json(parsed_body(), self.body)


@dataclass
class _Counts:
    """One tenant's view of one scenario."""

    matched: int = 0
    fired: int = 0
    random: random.Random | None = None
    window: deque[int] = field(default_factory=deque)


@dataclass
class Outcome:
    """What the matching scenarios decided for one request."""

    delay_ms: int = 0
    respond: dict[str, Any] | None = None
    fault: str | None = None
    retry_after_s: int | None = None
    rate_limit_message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fired: list[str] = field(default_factory=list)

    @property
    def answers(self) -> bool:
        """Whether a scenario answers instead of the API."""
        return self.respond is not None or self.fault is not None or self.retry_after_s is not None


class Scenario:
    """One rule, its scope (a tenant's API key, or None for every tenant) and its counters."""

    def __init__(self, spec: Mapping[str, Any], scope: str | None, seed: int | None) -> None:
        self.spec = dict(spec)
        self.name: str = spec["name"]
        self.scope = scope
        self.matcher = Matcher(spec.get("when") or {})
        self.after = spec.get("after", 0)
        self.every = spec.get("every", 1)
        self.probability = spec.get("probability")
        self.times = spec.get("times")
        self.delay_ms = spec.get("delayMs", 0)
        self.respond = spec.get("respond")
        self.fault = spec.get("fault")
        self.rate_limit = spec.get("rateLimit")
        self._seed = seed
        self._counts: dict[str | None, _Counts] = {}
        self._shared: _Counts | None = None  # of the tenants past MAX_COUNTED_TENANTS that keep nothing

    def counts(self, tenant_key: str | None, in_use: Callable[[str], bool]) -> _Counts:
        """The tenant's counters, never dropped; past MAX_COUNTED_TENANTS a new tenant that is not
        `in_use` gets the shared ones, so a stream of new keys cannot grow them."""
        counts = self._counts.get(tenant_key)
        if counts is None:
            if len(self._counts) >= MAX_COUNTED_TENANTS and (tenant_key is None or not in_use(tenant_key)):
                if self._shared is None:
                    self._shared = self._new_counts("*")
                return self._shared
            counts = self._counts[tenant_key] = self._new_counts(tenant_key or "")
        return counts

    def _new_counts(self, who: str) -> _Counts:
        counts = _Counts()
        if self.probability is not None:
            seed = None if self._seed is None else f"{self._seed}/{self.scope or ''}/{self.name}/{who}"
            counts.random = random.Random(seed)
        return counts

    def forget(self, tenant_key: str) -> None:
        """Zero one tenant's counters."""
        self._counts.pop(tenant_key, None)

    def gate_open(self, counts: _Counts) -> bool:
        """After this match was counted: does the scenario fire? after -> every -> probability -> times."""
        position = counts.matched - self.after
        if position <= 0 or position % self.every:
            return False
        if counts.random is not None and counts.random.random() >= self.probability:
            return False
        return self.times is None or counts.fired < self.times

    def to_json(self, tenant_key: str | None = None, *, everyone: bool = True) -> dict[str, Any]:
        """The spec with its scope and counters (everyone's summed, or one tenant's)."""
        chosen = [*self._counts.values(), *([self._shared] if self._shared else [])] if everyone \
            else [self._counts.get(tenant_key) or _Counts()]
        return {
            **self.spec,
            "scopedTo": self.scope,
            "matched": sum(c.matched for c in chosen),
            "fired": sum(c.fired for c in chosen),
        }


class Scenarios:
    """Every scenario of a server, in order: a tenant's own come before the server-wide ones."""

    def __init__(self, clock: Clock, seed: Callable[[], int | None],
                 in_use: Callable[[str], bool] = lambda tenant_key: False,
                 partition_of: Callable[[str], str] = lambda api_key: api_key) -> None:
        """`in_use(tenant_key)`, whether a tenant keeps something, and `partition_of(api_key)`, the
        tenant a key reaches, must take no lock of this object."""
        self._lock = threading.Lock()
        self._in_use = in_use
        self._partition_of = partition_of
        self._clock = clock
        self._seed = seed
        self._server_wide: list[Scenario] = []
        self._by_tenant: dict[str, list[Scenario]] = {}

    def _list(self, tenant_key: str | None) -> list[Scenario]:
        """The scenarios scoped to `tenant_key` (None: the server-wide ones) to read; a fresh empty list
        for a tenant with none: nothing is stored."""
        return self._server_wide if tenant_key is None else self._by_tenant.get(tenant_key, [])

    def name_for(self, spec: Mapping[str, Any], tenant_key: str | None) -> str:
        """The spec's name, or `scenario-N` for the first free N among the tenant's (or the server's)."""
        if spec.get("name"):
            return spec["name"]
        taken = {s.name for s in self._list(tenant_key)}
        number = len(taken) + 1
        while f"scenario-{number}" in taken:
            number += 1
        return f"scenario-{number}"

    def check_free(self, names: list[str], tenant_key: str | None) -> None:
        """409 if any of `names` is taken in `scope`."""
        taken = {s.name for s in self._list(tenant_key)} & set(names)
        if taken:
            where = f"tenant {tenant_key!r}" if tenant_key else "the server"
            raise Conflict(f"A scenario named {sorted(taken)[0]!r} already exists for {where}")

    def add(self, spec: Mapping[str, Any], tenant_key: str | None = None) -> Scenario:
        """Add a scenario (its spec validated already) at the end of the tenant's list (None: the server's)."""
        with self._lock:
            named = {**spec, "name": self.name_for(spec, tenant_key)}
            self.check_free([named["name"]], tenant_key)
            scenario = Scenario(named, tenant_key, self._seed())
            if tenant_key is None:
                self._server_wide.append(scenario)
            else:
                self._by_tenant.setdefault(tenant_key, []).append(scenario)
            return scenario

    def remove(self, name: str, tenant_key: str | None = None) -> None:
        with self._lock:
            scenarios = self._list(tenant_key)
            for index, scenario in enumerate(scenarios):
                if scenario.name == name:
                    del scenarios[index]
                    if tenant_key is not None and not scenarios:
                        del self._by_tenant[tenant_key]  # an empty entry would keep the tenant off the fast path
                    return
        where = " for this tenant" if tenant_key else ""
        raise NotFound(f"No scenario named {name[:80]!r}{where}")

    def clear(self, tenant_key: str | None = None) -> None:
        """Remove every scenario (only those scoped to one tenant, and that tenant's counters in
        the server-wide ones, when named)."""
        with self._lock:
            if tenant_key is None:
                self._server_wide.clear()
                self._by_tenant.clear()
                return
            self._by_tenant.pop(tenant_key, None)
            for scenario in self._server_wide:
                scenario.forget(tenant_key)

    def _all(self) -> list[Scenario]:
        return [*self._server_wide, *(s for scoped in self._by_tenant.values() for s in scoped)]

    def listing(self, tenant_key: str | None = None) -> list[dict[str, Any]]:
        """Every scenario with its counters; for a tenant: those that apply to it, with its counts."""
        with self._lock:
            if tenant_key is None:
                return [s.to_json() for s in self._all()]
            applicable = [*self._by_tenant.get(tenant_key, ()), *self._server_wide]
            return [s.to_json(tenant_key, everyone=False) for s in applicable]

    def has_own(self, tenant_key: str) -> bool:
        """Whether the tenant has scenarios of its own. Without the lock (one dict lookup), so that
        it can be asked while deciding."""
        return bool(self._by_tenant.get(tenant_key))

    def scopes(self) -> list[str]:
        """The tenants that have scenarios of their own."""
        with self._lock:
            return [key for key, scoped in self._by_tenant.items() if scoped]

    def specs(self, tenant_key: str | None) -> list[dict[str, Any]]:
        """The specs of the scenarios scoped to one tenant, or the server-wide ones (for a state export)."""
        with self._lock:
            return [dict(s.spec) for s in self._list(tenant_key)]

    def decide(self, exchange: Exchange) -> Outcome:
        """Count the request against every applicable scenario in order, until one answers."""
        outcome = Outcome()
        if not self._server_wide and not self._by_tenant:
            return outcome
        body_cache: list[Any] = []

        def parsed_body() -> Any:
            if not body_cache:
                try:
                    body_cache.append(json.loads(exchange.body) if exchange.body else None)
                except ValueError:
                    body_cache.append(_NO_BODY)
            return body_cache[0]

        tenant_key = exchange.tenant_key
        with self._lock:
            scoped = self._by_tenant.get(tenant_key, []) if tenant_key is not None else []
            for scenario in [*scoped, *self._server_wide]:
                if not scenario.matcher.matches(exchange, parsed_body, self._partition_of):
                    continue
                counts = scenario.counts(tenant_key, self._in_use)
                counts.matched += 1
                if scenario.rate_limit is not None:
                    self._apply_rate_limit(scenario, counts, tenant_key, outcome)
                elif scenario.gate_open(counts):
                    counts.fired += 1
                    outcome.fired.append(scenario.name)
                    outcome.delay_ms += scenario.delay_ms
                    outcome.respond = scenario.respond
                    outcome.fault = scenario.fault
                if outcome.answers:
                    break
        return outcome

    def _apply_rate_limit(self, scenario: Scenario, counts: _Counts, tenant_key: str | None, outcome: Outcome) -> None:
        """Admit the request or answer 429: a sliding window over the tenant's admitted requests."""
        limit = scenario.rate_limit["limit"]
        window_ms = round(scenario.rate_limit["windowSeconds"] * 1000)
        now = self._clock.now_ms(tenant_key)
        while counts.window and counts.window[0] <= now - window_ms:
            counts.window.popleft()
        if len(counts.window) < limit:
            counts.window.append(now)
            reset_s = math.ceil((counts.window[0] + window_ms - now) / 1000)
            outcome.headers.update({"RateLimit-Limit": str(limit),
                                    "RateLimit-Remaining": str(limit - len(counts.window)),
                                    "RateLimit-Reset": str(reset_s)})
            return
        retry_after = max(1, math.ceil((counts.window[0] + window_ms - now) / 1000))
        counts.fired += 1
        outcome.fired.append(scenario.name)
        outcome.retry_after_s = retry_after
        outcome.rate_limit_message = (
            f"Rate limit exceeded: {limit} requests per {scenario.rate_limit['windowSeconds']:g} seconds;"
            f" retry after {retry_after} seconds"
        )
        outcome.headers.update({"Retry-After": str(retry_after), "RateLimit-Limit": str(limit),
                                "RateLimit-Remaining": "0", "RateLimit-Reset": str(retry_after)})
