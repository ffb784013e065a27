"""The list query: parameters parsed and checked, the predicate they make, and cursors.

Pure rules, no web framework: `parse_list_query(params)` takes the query string as a mapping of
name -> list of values and raises InvalidRequest naming each bad parameter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from mock_runtype.errors import InvalidRequest
from mock_runtype.records import Record

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
SORT_FIELDS = {"createdAt": "createdAt", "created_at": "createdAt", "updatedAt": "updatedAt",
               "updated_at": "updatedAt", "name": "name"}
KNOWN_PARAMETERS = frozenset({
    "limit", "cursor", "direction", "includeCount", "type", "search", "name", "ownerId",
    "includeFields", "include_fields", "product_surface_id", "metadata_keys",
    "metadata_keys_all", "min_fields", "max_fields", "view", "sort_by", "sort_order",
})
FILTER_PARAMETERS = (
    ("type", "type"), ("name", "name"), ("search", "search"), ("owner_id", "ownerId"),
    ("product_surface_id", "product_surface_id"), ("metadata_keys", "metadata_keys"),
    ("metadata_keys_all", "metadata_keys_all"), ("min_fields", "min_fields"), ("max_fields", "max_fields"),
)
_CURSOR_KEY = b"mock-runtype cursor v1"


@dataclass
class ListQuery:
    """What a list (or export) asks for: filters, order and the page wanted."""

    type: str | None = None
    name: str | None = None
    search: str | None = None
    owner_id: str | None = None
    product_surface_id: str | None = None
    metadata_keys: list[str] | None = None
    metadata_keys_all: list[str] | None = None
    min_fields: int | None = None
    max_fields: int | None = None
    sort_by: str = "createdAt"
    descending: bool = True
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    backward: bool = False
    include_count: bool = False
    include_fields: bool = False
    compact: bool = False

    @property
    def filters_applied(self) -> dict[str, Any]:
        """The filters in force, by their query parameter names (echoed as `filtersApplied`)."""
        return {wire: getattr(self, attr) for attr, wire in FILTER_PARAMETERS if getattr(self, attr) is not None}

    def predicate(self) -> Callable[[Record], bool] | None:
        """One function testing every filter besides `type`, or None when there is none."""
        tests: list[Callable[[Record], bool]] = []
        if self.name is not None:
            tests.append(lambda r, v=self.name: r.name == v)
        if self.owner_id is not None:
            tests.append(lambda r, v=self.owner_id: r.owner_id == v)
        if self.product_surface_id is not None:
            tests.append(lambda r, v=self.product_surface_id: r.product_surface_id == v)
        if self.metadata_keys:
            tests.append(lambda r, keys=self.metadata_keys: any(k in r.metadata for k in keys))
        if self.metadata_keys_all:
            tests.append(lambda r, keys=self.metadata_keys_all: all(k in r.metadata for k in keys))
        if self.min_fields is not None:
            tests.append(lambda r, n=self.min_fields: len(r.metadata) >= n)
        if self.max_fields is not None:
            tests.append(lambda r, n=self.max_fields: len(r.metadata) <= n)
        if self.search:
            tests.append(lambda r, needle=self.search.casefold(): matches_search(r, needle))
        if not tests:
            return None
        if len(tests) == 1:
            return tests[0]
        return lambda record: all(test(record) for test in tests)

    def fingerprint(self, tenant: str) -> str:
        """Identifies the tenant, filters and order a cursor belongs to (not the page size)."""
        basis = json.dumps([tenant, self.filters_applied, self.sort_by, self.descending], sort_keys=True)
        return hashlib.sha256(basis.encode()).hexdigest()[:16]


def matches_search(record: Record, needle: str) -> bool:
    """Case-insensitive substring over the name and every metadata value (nested ones too)."""
    if needle in record.name.casefold():
        return True
    return any(needle in text for text in _texts(record.metadata))


def _texts(value: Any) -> Iterable[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            yield item.casefold()
        elif item is not None:
            yield json.dumps(item)


def parse_list_query(params: Mapping[str, list[str]]) -> ListQuery:
    """Check and parse list parameters; every problem is reported at once."""
    problems: list[dict[str, str]] = []
    single: dict[str, str] = {}
    for key, values in params.items():
        if key not in KNOWN_PARAMETERS:
            problems.append({"path": key, "message": "unknown query parameter"})
        elif len(values) > 1:
            problems.append({"path": key, "message": "given more than once"})
        else:
            single[key] = values[0]
    query = ListQuery()

    def text(key: str, max_length: int = 500) -> str | None:
        value = single.get(key)
        if value is None:
            return None
        if value == "" or len(value) > max_length:
            problems.append({"path": key, "message": f"must be 1-{max_length} characters"})
            return None
        return value

    def integer(key: str, low: int, high: int) -> int | None:
        value = single.get(key)
        if value is None:
            return None
        if not value.isascii() or not value.lstrip("-").isdigit() or len(value) > 12:
            problems.append({"path": key, "message": "must be an integer"})
            return None
        number = int(value)
        if not low <= number <= high:
            problems.append({"path": key, "message": f"must be between {low} and {high}"})
            return None
        return number

    def boolean(key: str) -> bool:
        value = single.get(key)
        if value is None:
            return False
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        problems.append({"path": key, "message": "must be true or false"})
        return False

    def key_list(key: str) -> list[str] | None:
        value = text(key, 10_000)
        if value is None:
            return None
        keys = [k.strip() for k in value.split(",") if k.strip()]
        if not keys:
            problems.append({"path": key, "message": "must name at least one metadata key"})
            return None
        return keys

    query.type = text("type", 255)
    query.name = text("name", 500)
    query.search = text("search", 500)
    query.owner_id = text("ownerId", 500)
    query.product_surface_id = text("product_surface_id", 500)
    query.metadata_keys = key_list("metadata_keys")
    query.metadata_keys_all = key_list("metadata_keys_all")
    query.min_fields = integer("min_fields", 0, 100_000)
    query.max_fields = integer("max_fields", 0, 100_000)

    limit = integer("limit", 1, MAX_LIMIT)
    query.limit = DEFAULT_LIMIT if limit is None else limit
    sort_by = single.get("sort_by")
    if sort_by is not None:
        if sort_by not in SORT_FIELDS:
            problems.append({"path": "sort_by", "message": "must be one of createdAt, updatedAt, name"})
        else:
            query.sort_by = SORT_FIELDS[sort_by]
    sort_order = single.get("sort_order")
    if sort_order is not None:
        if sort_order.lower() not in ("asc", "desc"):
            problems.append({"path": "sort_order", "message": "must be asc or desc"})
        else:
            query.descending = sort_order.lower() == "desc"
    direction = single.get("direction")
    if direction is not None and direction not in ("next", "prev"):
        problems.append({"path": "direction", "message": "must be next or prev"})
    query.backward = direction == "prev"
    query.cursor = single.get("cursor") or None
    query.include_count = boolean("includeCount")
    query.include_fields = boolean("includeFields") or boolean("include_fields")
    view = single.get("view")
    if view is not None and view not in ("full", "compact"):
        problems.append({"path": "view", "message": "must be full or compact"})
    query.compact = view == "compact"
    if query.min_fields is not None and query.max_fields is not None and query.min_fields > query.max_fields:
        problems.append({"path": "min_fields", "message": "must not be greater than max_fields"})
    if problems:
        raise InvalidRequest("Invalid query parameters: " + ", ".join(p["path"] for p in problems),
                             details=problems)
    return query


@dataclass(frozen=True)
class CursorPosition:
    """Where a page starts or ends: the sort key of a record and that record's offset."""

    key: tuple
    offset: int


def encode_cursor(position: CursorPosition, fingerprint: str) -> str:
    payload = json.dumps([list(position.key), position.offset, fingerprint], separators=(",", ":")).encode()
    signature = hmac.new(_CURSOR_KEY, payload, hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(signature + payload).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> CursorPosition:
    """The position a cursor names; 400 if it was forged or belongs to another query or tenant."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        signature, payload = raw[:12], raw[12:]
        if not hmac.compare_digest(signature, hmac.new(_CURSOR_KEY, payload, hashlib.sha256).digest()[:12]):
            raise ValueError("bad signature")
        key, offset, owner = json.loads(payload)
    except (ValueError, TypeError):
        raise InvalidRequest("Invalid cursor", details=[{"path": "cursor", "message": "not a cursor this server issued"}]) from None
    if owner != fingerprint:
        raise InvalidRequest("Invalid cursor", details=[{"path": "cursor", "message": "the cursor belongs to another query"}])
    return CursorPosition(key=tuple(key), offset=offset)


def pagination_json(page: Any, query: ListQuery, tenant_key: str) -> dict[str, Any]:
    """The contract's pagination object for a page of `query`."""
    fingerprint = query.fingerprint(tenant_key)
    total_pages = None
    if page.total is not None:
        total_pages = (page.total + query.limit - 1) // query.limit
    return {
        "currentOffset": page.offset,
        "currentPage": page.offset // query.limit + 1,
        "hasMore": page.has_more,
        "hasPrev": page.has_prev,
        "limit": query.limit,
        "nextCursor": encode_cursor(page.next_position, fingerprint) if page.next_position else None,
        "prevCursor": encode_cursor(page.prev_position, fingerprint) if page.prev_position else None,
        "totalCount": page.total,
        "totalPages": total_pages,
    }
