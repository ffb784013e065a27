"""The request journal: what each tenant sent and what the sandbox answered, so a test can check it.

Bounded so that no tenant's traffic pushes out another's entries. A tenant in use (one that keeps
something: records, a fixture's declaration, scenarios or a clock of its own) has a journal of its
own, of `limit` entries (its oldest go first). Every other request (an unknown key that keeps
nothing, or no key at all) goes to one shared bucket of `limit` entries, so a flood of fresh keys
pushes out only its own kind. In total the tenants' own journals hold at most `total_limit`
entries; past it, the longest journal loses its oldest entry, so a tenant keeps at least its fair
share (`total_limit` / tenants in use) whatever the others send. Each entry is bounded too
(`_bound`). Entries keep raw bytes; they are decoded only when read. API keys are never shown: a
tenant appears as its fingerprint, and so does the token in a secret header. Pure Python, no web
framework.
"""

from __future__ import annotations

import heapq
import json
import threading
from collections import OrderedDict, deque
from itertools import islice
from typing import Any, Callable

from mock_runtype.model.clock import format_timestamp
from mock_runtype.sandbox.exchange import Exchange, Glob, normalize_path
from mock_runtype.model.tenancy import fingerprint

DEFAULT_LIMIT = 1000
TOTAL_LIMIT_FACTOR = 20
BODY_PREVIEW_BYTES = 4096
# The rest of an entry is bounded too, so that no request makes one large: the path, each header
# and query name or value, the count of headers and of query values, and all of them together.
MAX_PATH_CHARS = 2048
MAX_TEXT_CHARS = 1024
MAX_FIELDS = 64
MAX_FIELDS_CHARS = 8192
MAX_RESPONSE_HEADER_CHARS = 2048  # the answer's headers, together: the server's own are a few hundred
CUT_MARK = "…"
SECRET_HEADERS = frozenset({"authorization", "x-admin-token", "cookie", "set-cookie", "proxy-authorization"})


class Journal:
    """The bounded log of exchanges: a journal per tenant in use, one bucket for the rest."""

    def __init__(self, limit: int = DEFAULT_LIMIT, total_limit: int | None = None, *,
                 in_use: Callable[[str], bool] = lambda tenant_key: True) -> None:
        """`in_use(tenant_key)` says whether a tenant keeps something, and so has a journal of its own."""
        self._lock = threading.Lock()
        self._in_use = in_use
        self.limit = limit
        self.total_limit = total_limit or limit * TOTAL_LIMIT_FACTOR
        self._by_tenant: OrderedDict[str, deque[Exchange]] = OrderedDict()  # least recently active first
        self._shared: deque[Exchange] = deque(maxlen=limit)
        self._size = 0  # entries in the tenants' own journals
        self._seq = 0
        self._clears = 0

    def resize(self, limit: int) -> None:
        """Keep at most `limit` entries per tenant from now on (the newest stay)."""
        with self._lock:
            self.limit = limit
            self.total_limit = limit * TOTAL_LIMIT_FACTOR
            for key, entries in list(self._by_tenant.items()):
                self._by_tenant[key] = deque(entries, maxlen=limit)
            self._shared = deque(self._shared, maxlen=limit)
            self._size = sum(len(entries) for entries in self._by_tenant.values())
            self._trim()

    def __len__(self) -> int:
        """Entries kept, of every tenant (without the lock, to estimate work)."""
        return self._size + len(self._shared)

    def record(self, exchange: Exchange) -> None:
        """Keep an exchange, bounded as a whole (`_bound`), in its tenant's journal or the bucket."""
        _bound(exchange)
        tenant_key = exchange.tenant_key
        own = tenant_key is not None and self._in_use(tenant_key)  # outside the lock: it reads other parts
        with self._lock:
            self._seq += 1
            exchange.seq = self._seq
            if not own:
                self._share(tenant_key)
                self._shared.append(exchange)
                return
            entries = self._by_tenant.get(tenant_key)
            if entries is None:
                entries = self._by_tenant[tenant_key] = deque(maxlen=self.limit)
            else:
                self._by_tenant.move_to_end(tenant_key)
            if len(entries) == entries.maxlen:
                self._size -= 1
            entries.append(exchange)
            self._size += 1
            self._trim()

    def _share(self, tenant_key: str | None) -> None:
        """A tenant no longer in use (its records gone, say) moves its journal into the bucket: kept
        apart, it would count against the tenants in use."""
        entries = self._by_tenant.pop(tenant_key, None) if tenant_key is not None else None
        if entries:
            self._size -= len(entries)
            merged = heapq.merge(self._shared, entries, key=lambda e: e.seq)
            self._shared = deque(merged, maxlen=self.limit)

    def _trim(self) -> None:
        """Past the total, the longest journal (of those, the least recently active) loses its oldest."""
        while self._size > self.total_limit:
            longest_key, longest = max(self._by_tenant.items(), key=lambda item: len(item[1]))
            longest.popleft()
            self._size -= 1
            if not longest:
                del self._by_tenant[longest_key]

    def entries(
        self,
        tenant_key: str | None = None,
        *,
        match: Callable[[Exchange], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Entries oldest first, as JSON-ready dicts: one tenant's when named, else everyone's."""
        with self._lock:
            if tenant_key is not None:
                shared = [e for e in self._shared if e.tenant_key == tenant_key]
                chosen = list(heapq.merge(shared, self._by_tenant.get(tenant_key, ()), key=lambda e: e.seq))
            else:
                chosen = sorted((e for entries in (self._shared, *self._by_tenant.values()) for e in entries),
                                key=lambda e: e.seq)
        return [entry_to_json(e) for e in chosen if match is None or match(e)]

    @property
    def version(self) -> str:
        """Changes whenever an entry is added or entries are cleared: a reader that saw this
        version has seen everything (the console's live view asks before fetching rows again)."""
        return f"{self._seq}.{self._clears}"

    def newest(self, count: int, match: Callable[[Exchange], bool] | None = None) -> list[dict[str, Any]]:
        """The `count` newest entries that `match` admits, newest first, as JSON-ready dicts: only
        those are decoded, so a page of the console costs its rows, not the journal's size. `match`
        runs on a copy, outside the lock: a filter that reads every entry (a glob on 20,000 paths)
        holds up no request's entry."""
        with self._lock:
            journals = [list(entries) for entries in (self._shared, *self._by_tenant.values())]
        newest_first = heapq.merge(*(reversed(entries) for entries in journals), key=lambda e: -e.seq)
        chosen = list(islice(newest_first if match is None else filter(match, newest_first), count))
        return [entry_to_json(e) for e in chosen]

    def entry(self, seq: int) -> dict[str, Any] | None:
        """The entry with this `id`, if the journal still holds it."""
        with self._lock:
            found = next((e for entries in (self._shared, *self._by_tenant.values()) for e in entries if e.seq == seq), None)
        return None if found is None else entry_to_json(found)

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest entry so far (0: none yet)."""
        return self._seq

    def tenants_since(self, seq: int) -> set[str]:
        """The tenants of the entries kept that came after entry `seq` (the pytest plugin resets
        them after a test). The bounds above can push out a tenant's entries only when more
        tenants are in use than the total holds, or, for a tenant keeping nothing, by newer
        requests of such tenants: one that keeps nothing has nothing to reset but counters."""
        found: set[str] = set()
        with self._lock:
            if self._seq <= seq:
                return found
            for entries in (self._shared, *self._by_tenant.values()):
                for entry in reversed(entries):  # each journal is oldest first: read back to `seq` only
                    if entry.seq <= seq:
                        break
                    if entry.tenant_key is not None:
                        found.add(entry.tenant_key)
        return found

    def clear(self, tenant_key: str | None = None) -> int:
        """Forget entries (one tenant's when named); returns how many went."""
        with self._lock:
            self._clears += 1
            if tenant_key is None:
                removed = self._size + len(self._shared)
                self._by_tenant.clear()
                self._shared.clear()
                self._size = 0
                return removed
            own = len(self._by_tenant.pop(tenant_key, ()))
            self._size -= own
            kept = deque((e for e in self._shared if e.tenant_key != tenant_key), maxlen=self.limit)
            removed = own + len(self._shared) - len(kept)
            self._shared = kept
            return removed


def _bound(exchange: Exchange) -> None:
    """Cut an exchange to what an entry keeps: bodies to what a preview shows (plus a byte to tell
    it was cut); secret headers to their fingerprints, so no token is kept; the path, names and
    values to their limits, with CUT_MARK; the headers and query values to MAX_FIELDS each and
    MAX_FIELDS_CHARS together (headers first). What was cut is named in `cut`."""
    exchange.body = exchange.body[:BODY_PREVIEW_BYTES + 1]
    exchange.response_body = exchange.response_body[:BODY_PREVIEW_BYTES + 1]
    cut = exchange.cut
    if len(exchange.path) > MAX_PATH_CHARS:
        exchange.path = _shortened(exchange.path, MAX_PATH_CHARS)
        cut.append("path")
    masked = {name: _masked(name, value) for name, value in exchange.headers.items()}
    spent = _fits(masked, MAX_FIELDS_CHARS)
    if spent is not None and (not exchange.query or _fits_query(exchange.query, MAX_FIELDS_CHARS - spent)):
        exchange.headers = masked  # the common case: nothing to cut, no field to walk one by one
        exchange.response_headers = _bounded_response_headers(exchange.response_headers)
        return
    budget = [MAX_FIELDS_CHARS]

    def kept(text: str, part: str) -> str | None:
        """`text` within its limit and the entry's budget; None once the budget is spent."""
        if len(text) > MAX_TEXT_CHARS:
            text = _shortened(text, MAX_TEXT_CHARS)
            cut.append(part)
        if len(text) > budget[0]:
            cut.append(part)
            return None
        budget[0] -= len(text)
        return text

    headers: dict[str, str] = {}
    for name, value in exchange.headers.items():
        short_name = kept(name, "headers") if len(headers) < MAX_FIELDS else None
        short_value = kept(_masked(name, value), "headers") if short_name is not None else None
        if short_value is None:
            cut.append("headers")
            break
        headers[short_name] = short_value
    exchange.headers = headers
    exchange.response_headers = _bounded_response_headers(exchange.response_headers)
    query: dict[str, list[str]] = {}
    pairs = ((name, value) for name, values in exchange.query.items() for value in values)
    for index, (name, value) in enumerate(pairs):
        short_name = kept(name, "query") if index < MAX_FIELDS else None
        short_value = kept(value, "query") if short_name is not None else None
        if short_value is None:
            cut.append("query")
            break
        query.setdefault(short_name, []).append(short_value)
    exchange.query = query
    exchange.cut = list(dict.fromkeys(cut))


def _fits(fields: dict[str, str], budget: int) -> int | None:
    """The characters of `fields` when none has to be cut (MAX_FIELDS of them, each name and value
    within MAX_TEXT_CHARS, all within `budget`), else None."""
    if len(fields) > MAX_FIELDS:
        return None
    spent = 0
    for name, value in fields.items():
        if len(name) > MAX_TEXT_CHARS or len(value) > MAX_TEXT_CHARS:
            return None
        spent += len(name) + len(value)
    return spent if spent <= budget else None


def _fits_query(query: dict[str, list[str]], budget: int) -> bool:
    """Whether no query parameter has to be cut (as `_fits`, a repeated name counted each time)."""
    pairs = [(name, value) for name, values in query.items() for value in values]
    if len(pairs) > MAX_FIELDS:
        return False
    for name, value in pairs:
        if len(name) > MAX_TEXT_CHARS or len(value) > MAX_TEXT_CHARS:
            return False
        budget -= len(name) + len(value)
    return budget >= 0


def _bounded_response_headers(headers: dict[str, str]) -> dict[str, str]:
    """The answer's headers (the server's own, or a scenario's): MAX_FIELDS of them at most, each
    name and value cut to MAX_TEXT_CHARS, MAX_RESPONSE_HEADER_CHARS together (the rest left out)."""
    if (len(headers) <= MAX_FIELDS and SECRET_HEADERS.isdisjoint(headers)
            and sum(map(len, headers)) + sum(map(len, headers.values())) <= MAX_RESPONSE_HEADER_CHARS):
        return headers  # the common case, the server's own few headers: kept as they are, at no cost
    kept: dict[str, str] = {}
    budget = MAX_RESPONSE_HEADER_CHARS
    for name, value in list(headers.items())[:MAX_FIELDS]:
        name, value = name[:MAX_TEXT_CHARS], _masked(name, value)[:MAX_TEXT_CHARS]
        budget -= len(name) + len(value)
        if budget < 0:
            break
        kept[name] = value
    return kept


def _shortened(text: str, limit: int) -> str:
    return text[:limit - len(CUT_MARK)] + CUT_MARK


def entry_filter(method: str | None = None, path: str | None = None, status: int | None = None) -> Callable[[Exchange], bool]:
    """A test on entries: the method (any case), the path (a glob, as in scenarios) and the status."""
    path_pattern = Glob(path, segments=True) if path else None

    def admits(exchange: Exchange) -> bool:
        return ((method is None or exchange.method.upper() == method.upper())
                and (path_pattern is None or bool(path_pattern.match(normalize_path(exchange.path))))
                and (status is None or exchange.status == status))

    return admits


def entry_to_json(exchange: Exchange) -> dict[str, Any]:
    """An entry as `GET /__admin/requests` shows it."""
    body, body_truncated = _preview(exchange.body, exchange.headers.get("content-type", ""))
    response, response_truncated = _preview(exchange.response_body, exchange.response_type)
    entry: dict[str, Any] = {
        "id": exchange.seq,
        "time": format_timestamp(exchange.time_ms),
        "tenant": fingerprint(exchange.tenant_key) if exchange.tenant_key is not None else None,
        "method": exchange.method,
        "path": exchange.path,
        "query": {name: values[0] if len(values) == 1 else values for name, values in exchange.query.items()},
        "headers": dict(exchange.headers),
        "body": body,
        "status": exchange.status,
        "response": response,
        "responseHeaders": dict(exchange.response_headers),
        "scenarios": list(exchange.scenarios),
        "violation": exchange.violation,
        "contractWarning": exchange.contract_warning,
    }
    truncated = [*exchange.cut, *(name for name, cut in (("body", body_truncated), ("response", response_truncated)) if cut)]
    if truncated:
        entry["truncated"] = truncated
    if exchange.fault:
        entry["fault"] = exchange.fault
    return entry


def _masked(name: str, value: str) -> str:
    """A secret header shows its scheme and the token's fingerprint, never the token."""
    if name.lower() not in SECRET_HEADERS:
        return value
    scheme, _, token = value.strip().partition(" ")
    if token and scheme.lower() in ("bearer", "basic", "token"):
        return f"{scheme} fp:{fingerprint(token.strip())}"
    return f"fp:{fingerprint(value.strip())}"


def _preview(raw: bytes, content_type: str) -> tuple[Any, bool]:
    """A body as JSON when it is JSON, else as text; cut at BODY_PREVIEW_BYTES. (value, truncated)."""
    if not raw:
        return None, False
    truncated = len(raw) > BODY_PREVIEW_BYTES
    if not truncated and "json" in content_type:
        try:
            return json.loads(raw), False
        except ValueError:
            pass
    return raw[:BODY_PREVIEW_BYTES].decode("utf-8", "replace"), truncated
