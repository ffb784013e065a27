"""Flow executions over records: their results and step results, and the costs they add up to.

The sandbox does not run flows; results are added by fixtures, the admin API or tests through
`Executions.add_result` / `add_step_result`, and read back by the records endpoints 13-16. Kept per
tenant and record; a record's results go when the record goes (the store tells this class).
Pure Python, no web framework.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from mock_runtype.model.clock import Clock, IdSource, format_timestamp, parse_timestamp
from mock_runtype.model.errors import Conflict, InvalidRequest, NotFound
from mock_runtype.model.params import DEFAULT_SORT_ORDER, SORT_ORDERS, QueryParams
from mock_runtype.model.store import Store
from mock_runtype.model.validation import validate

RESULT_FIELDS = (
    "id", "recordId", "status", "createdAt", "flowId", "flowName", "promptId", "promptName",
    "modelUsed", "modelCost", "toolCost", "estimatedCost", "executionTimeMs", "totalTokens",
    "result", "executionEngine",
)
STEP_FIELDS = (
    "id", "userId", "organizationId", "recordId", "recordName", "status", "stepName", "stepType",
    "createdAt", "flowId", "flowVersionId", "stepId", "batchExecutionId", "executionSessionId",
    "order", "modelUsed", "promptTokens", "completionTokens", "totalTokens", "reasoningTokens",
    "cacheReadTokens", "cacheWriteTokens", "estimatedCost", "durationMs", "startedAt",
    "completedAt", "errorMessage", "outputPreview", "resolvedPrompt", "retryCount",
    "inputVariables", "recordMetadata", "stepConfig", "executionEngine",
)
RESULT_SORTS = ("createdAt", "executionTimeMs", "totalTokens", "status")
STEP_SORTS = ("createdAt", "order", "durationMs", "startedAt")
DEFAULT_SORT = "createdAt"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
FIRST_PAGE = 1  # also the default page
MAX_PAGE = 1_000_000
MAX_OFFSET = 10_000_000
UNKNOWN_MODEL = "unknown"
TIMESTAMP_FIELDS = ("createdAt", "startedAt", "completedAt")


@dataclass
class _Entry:
    """A stored result or step: its creation time (ms), insertion order, and the dict itself."""

    created_ms: int
    seq: int
    data: dict[str, Any]


class _RecordRuns:
    def __init__(self) -> None:
        self.results: list[_Entry] = []
        self.steps: list[_Entry] = []


@dataclass
class ListWindow:
    """What a results or step-results listing asks for."""

    statuses: set[str] | None
    flow_id: str | None
    prompt_id: str | None
    batch_id: str | None
    start_ms: int | None
    end_ms: int | None
    sort_by: str
    descending: bool
    limit: int
    page: int = 1
    offset: int = 0
    include_count: bool = False

    def admits(self, entry: _Entry) -> bool:
        data = entry.data
        return (
            (self.statuses is None or data["status"] in self.statuses)
            and (self.flow_id is None or data.get("flowId") == self.flow_id)
            and (self.prompt_id is None or data.get("promptId") == self.prompt_id)
            and (self.batch_id is None or data.get("batchExecutionId") == self.batch_id)
            and (self.start_ms is None or entry.created_ms >= self.start_ms)
            and (self.end_ms is None or entry.created_ms <= self.end_ms)
        )

    def ordered(self, entries: list[_Entry]) -> list[_Entry]:
        """Matching entries in the asked order; entries without the sort value come last."""
        chosen = [entry for entry in entries if self.admits(entry)]
        if self.sort_by == "createdAt":
            return sorted(chosen, key=lambda e: (e.created_ms, e.seq), reverse=self.descending)
        present = [e for e in chosen if e.data.get(self.sort_by) is not None]
        missing = [e for e in chosen if e.data.get(self.sort_by) is None]
        if self.sort_by in TIMESTAMP_FIELDS:  # by the moment, whatever the offset it is written with
            present.sort(key=lambda e: (parse_timestamp(e.data[self.sort_by]), e.seq), reverse=self.descending)
        else:
            present.sort(key=lambda e: (e.data[self.sort_by], e.seq), reverse=self.descending)
        return present + missing


def parse_results_query(params: Mapping[str, list[str]], ignored: list[str] | None = None) -> ListWindow:
    """GET /v1/records/{id}/results: page, limit, status, promptId, flowId, from, to, sortBy, sortOrder, includeCount."""
    args = QueryParams(params, ("page", "limit", "status", "promptId", "flowId", "from", "to",
                                "sortBy", "sortOrder", "includeCount"), ignored=ignored)
    window = _window(args, RESULT_SORTS)
    window.prompt_id = args.text("promptId")
    window.page = args.integer("page", FIRST_PAGE, MAX_PAGE) or FIRST_PAGE
    window.include_count = args.boolean("includeCount")
    args.finish()
    return window


def parse_step_results_query(params: Mapping[str, list[str]], ignored: list[str] | None = None) -> ListWindow:
    """GET /v1/records/{id}/step-results: flowId, batchId, status, from, to, sortBy, sortOrder, limit, offset."""
    args = QueryParams(params, ("flowId", "batchId", "status", "from", "to", "sortBy", "sortOrder",
                                "limit", "offset"), ignored=ignored)
    window = _window(args, STEP_SORTS)
    window.batch_id = args.text("batchId")
    window.offset = args.integer("offset", 0, MAX_OFFSET) or 0
    args.finish()
    return window


def _window(args: QueryParams, sorts: tuple[str, ...]) -> ListWindow:
    statuses = args.text_list("status")
    window = ListWindow(
        statuses=set(statuses) if statuses else None,
        flow_id=args.text("flowId"),
        prompt_id=None,
        batch_id=None,
        start_ms=args.timestamp("from"),
        end_ms=args.timestamp("to"),
        sort_by=args.choice("sortBy", sorts, DEFAULT_SORT),
        descending=args.choice("sortOrder", SORT_ORDERS, DEFAULT_SORT_ORDER) == "desc",
        limit=args.integer("limit", 1, MAX_LIMIT) or DEFAULT_LIMIT,
    )
    return window  # `from` after `to` is an empty window, as a min above a max is on the list


def _moments(data: Mapping[str, Any]) -> dict[str, int]:
    """The entry's timestamps in ms; 400 naming the field for one that only looks like a
    date-time (the schema's pattern lets February 30th through)."""
    moments = {}
    for name in TIMESTAMP_FIELDS:
        if data.get(name) is not None:
            try:
                moments[name] = parse_timestamp(data[name])
            except ValueError as error:
                raise InvalidRequest(f"{name} is not a valid date-time: {error}",
                                     details=[{"path": name, "message": f"not a valid date-time: {error}"}]) from None
    return moments


def _decimal(value: str | None) -> Decimal:
    return Decimal(value) if value is not None else Decimal(0)


class Executions:
    """Results and step results per tenant and record. One lock; the store is asked which records exist."""

    def __init__(self, store: Store, clock: Clock | None = None, ids: IdSource | None = None) -> None:
        self.store = store
        self.clock = clock or store.clock
        self.ids = ids or store.ids
        self._lock = threading.Lock()
        self._seq = 0
        self._tenants: dict[str, dict[str, _RecordRuns]] = {}
        self._counts: dict[str, int] = {}  # results and step results per tenant
        store.on_removal(self._forget)

    def count(self, tenant_key: str) -> int:
        """The tenant's results and step results together (without the lock, to estimate work)."""
        return self._counts.get(tenant_key, 0)

    # -- adding ----------------------------------------------------------------------------

    def add_result(self, tenant_key: str, record_id: str, result: Mapping[str, Any]) -> dict[str, Any]:
        """Store an execution result of the record (404 if the tenant has no such record).

        Defaults: a new id, status "completed", createdAt now; `estimatedCost` and `modelCost`
        fill each other (the contract calls one the deprecated alias of the other).
        """
        validate("execution-result", result)
        data = dict(result)
        if data.get("estimatedCost") is None and data.get("modelCost") is not None:
            data["estimatedCost"] = data["modelCost"]
        if data.get("modelCost") is None and data.get("estimatedCost") is not None:
            data["modelCost"] = data["estimatedCost"]
        if data.get("totalTokens") is None and (data.get("promptTokens") or data.get("completionTokens")):
            data["totalTokens"] = (data.get("promptTokens") or 0) + (data.get("completionTokens") or 0)
        return self._add(tenant_key, record_id, data, steps=False)

    def add_step_result(self, tenant_key: str, record_id: str, step: Mapping[str, Any]) -> dict[str, Any]:
        """Store a step result of the record; userId, organizationId and recordName default to the record's."""
        validate("step-result", step)
        return self._add(tenant_key, record_id, dict(step), steps=True)

    def _add(self, tenant_key: str, record_id: str, data: dict[str, Any], *, steps: bool) -> dict[str, Any]:
        what = "Step result" if steps else "Result"
        if data.setdefault("recordId", record_id) != record_id:
            raise InvalidRequest(f"{what} recordId differs from the record it is added to",
                                 details=[{"path": "recordId", "message": f"must be {record_id} or absent"}])
        created_ms = _moments(data).get("createdAt")
        with self._lock:
            record = self.store.get(tenant_key, record_id)
            if steps:
                data.setdefault("userId", record.user_id)
                data.setdefault("organizationId", record.organization_id)
                data.setdefault("recordName", record.name)
            data.setdefault("status", "completed")
            if created_ms is None:
                created_ms = self.clock.now_ms(tenant_key)
            data["createdAt"] = format_timestamp(created_ms)
            runs = self._tenants.setdefault(tenant_key, {}).setdefault(record_id, _RecordRuns())
            entries = runs.steps if steps else runs.results
            taken = {entry.data["id"] for entry in entries}
            if "id" in data and data["id"] in taken:
                raise Conflict(f"{what} {data['id'][:80]} already exists on this record")
            while data.get("id") in taken or "id" not in data:  # a seeded sequence repeats the ids a loaded state holds
                data["id"] = self.ids.new_id(tenant_key)
            self._seq += 1
            entries.append(_Entry(created_ms, self._seq, data))
            self._counts[tenant_key] = self._counts.get(tenant_key, 0) + 1
            return dict(data)

    # -- reading ---------------------------------------------------------------------------

    def _runs(self, tenant_key: str, record_id: str) -> _RecordRuns:
        """The record's runs (empty when it has none); 404 if the tenant has no such record."""
        self.store.get(tenant_key, record_id)
        return self._tenants.get(tenant_key, {}).get(record_id) or _RecordRuns()

    def results(self, tenant_key: str, record_id: str, window: ListWindow) -> dict[str, Any]:
        """One page of the record's results with the contract's page-style pagination."""
        with self._lock:
            ordered = window.ordered(self._runs(tenant_key, record_id).results)
        start = (window.page - 1) * window.limit
        page = ordered[start:start + window.limit]
        has_more = start + len(page) < len(ordered)
        total = len(ordered) if window.include_count else None
        return {
            "data": [_shape(entry.data, RESULT_FIELDS) for entry in page],
            "pagination": {
                "page": window.page,
                "limit": window.limit,
                "hasMore": has_more,
                "hasPrev": window.page > 1,
                "hasNextPage": has_more,
                "hasPrevPage": window.page > 1,
                "total": total,
                "totalPages": -(-total // window.limit) if total is not None else None,
            },
        }

    def step_results(self, tenant_key: str, record_id: str, window: ListWindow) -> dict[str, Any]:
        """The record's step results from an offset, with the contract's offset-style pagination."""
        with self._lock:
            ordered = window.ordered(self._runs(tenant_key, record_id).steps)
        page = ordered[window.offset:window.offset + window.limit]
        return {
            "data": [_shape(entry.data, STEP_FIELDS) for entry in page],
            "pagination": {
                "limit": window.limit,
                "offset": window.offset,
                "returned": len(page),
                "hasMore": window.offset + len(page) < len(ordered),
            },
        }

    def costs(self, tenant_key: str, record_id: str) -> dict[str, Any]:
        """What the record's results cost: totals and a per-model breakdown (zeros when none)."""
        with self._lock:
            results = [entry.data for entry in self._runs(tenant_key, record_id).results]
        total = Decimal(0)
        models: dict[str, dict[str, Any]] = {}
        for result in results:
            cost = _decimal(result.get("modelCost")) + _decimal(result.get("toolCost"))
            total += cost
            model = models.setdefault(result.get("modelUsed") or UNKNOWN_MODEL,
                                      {"cost": Decimal(0), "tokens": 0, "count": 0})
            model["cost"] += cost
            model["tokens"] += result.get("totalTokens") or 0
            model["count"] += 1
        breakdown = [{"model": name, "cost": float(m["cost"]), "tokens": m["tokens"], "count": m["count"]}
                     for name, m in models.items()]
        breakdown.sort(key=lambda item: (-item["cost"], item["model"]))
        return {
            "totalCost": float(total),
            "promptTokens": sum(r.get("promptTokens") or 0 for r in results),
            "completionTokens": sum(r.get("completionTokens") or 0 for r in results),
            "totalTokens": sum(r.get("totalTokens") or 0 for r in results),
            "executionCount": len(results),
            "modelBreakdown": breakdown,
        }

    # -- removing --------------------------------------------------------------------------

    def delete_result(self, tenant_key: str, record_id: str, result_id: str) -> dict[str, Any]:
        """Remove one result of the record and return it; 404 for an unknown record or result."""
        with self._lock:
            results = self._runs(tenant_key, record_id).results
            for index, entry in enumerate(results):
                if entry.data["id"] == result_id:
                    del results[index]
                    self._counts[tenant_key] -= 1
                    return entry.data
        raise NotFound(f"Result not found: {result_id[:80]}")

    def clear(self, tenant_key: str | None = None) -> None:
        """Forget every result and step result (of one tenant, when named)."""
        self._forget(tenant_key, None)

    def _forget(self, tenant_key: str | None, record_ids: list[str] | None) -> None:
        with self._lock:
            if tenant_key is None:
                self._tenants.clear()
                self._counts.clear()
            elif record_ids is None:
                self._tenants.pop(tenant_key, None)
                self._counts.pop(tenant_key, None)
            elif tenant_key in self._tenants:
                runs = self._tenants[tenant_key]
                for record_id in record_ids:
                    gone = runs.pop(record_id, None)
                    if gone is not None:
                        self._counts[tenant_key] -= len(gone.results) + len(gone.steps)

    def export(self, tenant_key: str) -> dict[str, list[dict[str, Any]]]:
        """A tenant's results and step results as plain dicts (for state dumps), oldest first."""
        with self._lock:
            runs = list(self._tenants.get(tenant_key, {}).values())
            results = sorted((e for r in runs for e in r.results), key=lambda e: (e.created_ms, e.seq))
            steps = sorted((e for r in runs for e in r.steps), key=lambda e: (e.created_ms, e.seq))
            return {"results": [dict(e.data) for e in results], "stepResults": [dict(e.data) for e in steps]}


def _shape(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Every field of the contract's item, null where the stored entry has none."""
    return {name: data.get(name) for name in fields}
