"""The list query: parameters parsed and checked, the predicate they make, and cursors.

Pure rules, no web framework: `parse_list_query(params)` takes the query string as a mapping of
name -> list of values and raises InvalidRequest naming each bad parameter.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from itsdangerous import BadSignature, URLSafeSerializer

from mock_runtype.model.errors import InvalidRequest
from mock_runtype.model.filters import MATCHES_NOTHING, Filter, field_getter, parse_record_filter_param
from mock_runtype.model.json_text import json_type
from mock_runtype.model.params import DEFAULT_SORT_ORDER, SORT_ORDERS, TYPE_MAX_LENGTH, QueryParams
from mock_runtype.model.records import Record, metadata_size

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
SORT_FIELDS = {"createdAt": "createdAt", "created_at": "createdAt", "updatedAt": "updatedAt",
               "updated_at": "updatedAt", "name": "name"}
DEFAULT_SORT_FIELD = "createdAt"
DIRECTIONS = ("next", "prev")  # the first is the default
VIEWS = ("full", "compact")  # the first is the default
MAX_FIELDS = 100_000  # the bound of min_fields and max_fields
KILOBYTES = r"[0-9]{1,9}(\.[0-9]{1,6})?"  # min_size_kb, max_size_kb
KNOWN_PARAMETERS = frozenset({
    "limit", "cursor", "direction", "includeCount", "type", "search", "name", "ownerId",
    "includeFields", "include_fields", "product_surface_id", "metadata_keys",
    "metadata_keys_all", "min_fields", "max_fields", "view", "sort_by", "sort_order",
    "distinct", "metadata_types", "has_large_fields", "min_size_kb", "max_size_kb", "recordFilter",
})
PAGING_PARAMETERS = frozenset({"limit", "cursor", "direction", "includeCount", "view"})
JSON_TYPES = ("string", "number", "boolean", "object", "array", "null")
LARGE_FIELD_BYTES = 1024
FILTER_PARAMETERS = (
    ("type", "type"), ("name", "name"), ("search", "search"), ("owner_id", "ownerId"),
    ("product_surface_id", "product_surface_id"), ("metadata_keys", "metadata_keys"),
    ("metadata_keys_all", "metadata_keys_all"), ("min_fields", "min_fields"), ("max_fields", "max_fields"),
    ("distinct", "distinct"), ("metadata_types", "metadata_types"), ("has_large_fields", "has_large_fields"),
    ("min_size_kb", "min_size_kb"), ("max_size_kb", "max_size_kb"), ("record_filter_source", "recordFilter"),
)
CURSOR_SALT = "mock-runtype cursor"


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
    distinct: str | None = None
    metadata_types: list[str] | None = None
    has_large_fields: bool | None = None
    min_size_kb: float | None = None
    max_size_kb: float | None = None
    record_filter: Filter | None = None
    record_filter_source: Any = None
    sort_by: str = DEFAULT_SORT_FIELD
    descending: bool = DEFAULT_SORT_ORDER == "desc"
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

    def predicate(self, now_ms: int) -> Callable[[Record], bool] | None:
        """One function testing every filter besides `type` and `distinct`, or None when there is none.

        `now_ms` anchors the filter language's withinLastDays/olderThanDays.
        """
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
        if self.metadata_types:
            tests.append(lambda r, kinds=frozenset(self.metadata_types): any(
                json_type(value) in kinds for value in r.metadata.values()))
        if self.has_large_fields is not None:
            tests.append(lambda r, wanted=self.has_large_fields: has_large_field(r.metadata) == wanted)
        if self.min_size_kb is not None:
            tests.append(lambda r, low=self.min_size_kb * 1024: r.size >= low)
        if self.max_size_kb is not None:
            tests.append(lambda r, high=self.max_size_kb * 1024: r.size <= high)
        if self.record_filter is not None:
            tests.append(lambda r, matches=self.record_filter.matches: matches(r, now_ms))
        if not tests:
            return None
        if len(tests) == 1:
            return tests[0]
        return lambda record: all(test(record) for test in tests)

    def distinct_key(self) -> Callable[[Record], str] | None:
        """With `distinct=<field>`: the identity of a record's value of that field (JSON text)."""
        if self.distinct is None:
            return None
        get = field_getter(self.distinct)
        return lambda record: json.dumps(get(record), sort_keys=True, default=str)

    def fingerprint(self, tenant_key: str) -> str:
        """Identifies the tenant, filters and order a cursor belongs to (not the page size)."""
        basis = json.dumps([tenant_key, self.filters_applied, self.sort_by, self.descending], sort_keys=True)
        return hashlib.sha256(basis.encode()).hexdigest()[:16]


def has_large_field(metadata: dict[str, Any]) -> bool:
    """Whether some top-level metadata value takes more than LARGE_FIELD_BYTES as JSON."""
    for value in metadata.values():
        if isinstance(value, str) and len(value) * 4 <= LARGE_FIELD_BYTES:
            continue  # cannot be large: a character is at most 4 bytes of UTF-8
        if metadata_size({"": value}) - 5 > LARGE_FIELD_BYTES:
            return True
    return False


def keep_distinct(records: Iterable[Record], key: Callable[[Record], str]) -> set[str]:
    """Ids of the newest record (createdAt, then insertion) for each distinct `key`."""
    newest: dict[str, Record] = {}
    for record in records:
        value = key(record)
        kept = newest.get(value)
        if kept is None or (record.created_at, record.seq) > (kept.created_at, kept.seq):
            newest[value] = record
    return {record.id for record in newest.values()}


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


def parse_list_query(params: Mapping[str, list[str]], *, paged: bool = True,
                     ignored: list[str] | None = None) -> ListQuery:
    """Check and parse list parameters; every problem is reported at once.

    `paged=False` (export) refuses the paging parameters: an export has every matching record.
    With an `ignored` list, unknown parameters go there instead of being refused.
    """
    refused = {} if paged else {key: "not accepted here: an export is not paged" for key in PAGING_PARAMETERS}
    args = QueryParams(params, KNOWN_PARAMETERS, refused=refused, ignored=ignored)
    query = ListQuery()
    query.type = args.text("type", TYPE_MAX_LENGTH)
    query.name = args.text("name")
    query.search = args.text("search")
    query.owner_id = args.text("ownerId")
    query.product_surface_id = args.text("product_surface_id")
    query.metadata_keys = args.text_list("metadata_keys")
    query.metadata_keys_all = args.text_list("metadata_keys_all")
    query.min_fields = args.integer("min_fields", 0, MAX_FIELDS)
    query.max_fields = args.integer("max_fields", 0, MAX_FIELDS)
    query.distinct = args.text("distinct")
    query.metadata_types = args.text_list("metadata_types")
    for kind in query.metadata_types or ():
        if kind not in JSON_TYPES:
            args.problem("metadata_types", f"'{kind[:50]}' is not one of {', '.join(JSON_TYPES)}")
    if "has_large_fields" in args:
        query.has_large_fields = args.boolean("has_large_fields")
    query.min_size_kb = _kilobytes(args, "min_size_kb")
    query.max_size_kb = _kilobytes(args, "max_size_kb")
    if "recordFilter" in args:
        _parse_record_filter(args, query)

    limit = args.integer("limit", 1, MAX_LIMIT)
    query.limit = DEFAULT_LIMIT if limit is None else limit
    sort_by = args.raw("sort_by")
    if sort_by is not None:
        if sort_by not in SORT_FIELDS:
            args.problem("sort_by", "must be one of " + ", ".join(dict.fromkeys(SORT_FIELDS.values())))
        else:
            query.sort_by = SORT_FIELDS[sort_by]
    sort_order = args.raw("sort_order")
    if sort_order is not None:
        if sort_order.lower() not in SORT_ORDERS:
            args.problem("sort_order", "must be asc or desc")
        else:
            query.descending = sort_order.lower() == "desc"
    query.backward = args.choice("direction", DIRECTIONS, DIRECTIONS[0]) == "prev"
    query.cursor = args.raw("cursor") or None
    query.include_count = args.boolean("includeCount")
    spellings = [args.boolean("includeFields"), args.boolean("include_fields")]  # check both, then or
    query.include_fields = any(spellings)
    query.compact = args.choice("view", VIEWS, VIEWS[0]) == "compact"
    args.finish()
    return query


def _kilobytes(args: QueryParams, key: str) -> float | None:
    value = args.raw(key)
    if value is None:
        return None
    if not re.fullmatch(KILOBYTES, value):
        args.problem(key, "must be a number of kilobytes, such as 2 or 0.5")
        return None
    return float(value)


def _parse_record_filter(args: QueryParams, query: ListQuery) -> None:
    """`recordFilter`: its `where` becomes the query's filter, its `type` the type (if not given)."""
    text = args.raw("recordFilter")
    try:
        filter_type, query.record_filter = parse_record_filter_param(text)
    except InvalidRequest as error:
        for detail in error.details or [{"path": "recordFilter", "message": error.message}]:
            args.problem(detail["path"], detail["message"])
        return
    if query.record_filter is not None or filter_type is not None:
        query.record_filter_source = json.loads(text)
    if filter_type is not None and query.type is not None and filter_type != query.type:
        query.record_filter = MATCHES_NOTHING
    query.type = query.type or filter_type


@dataclass(frozen=True)
class CursorPosition:
    """Where a page starts or ends: the sort key of a record and that record's offset."""

    key: tuple
    offset: int


class CursorSigner:
    """Signs cursors and reads them back, with a key of this server's own.

    The key is random, made when the server starts, unless ids are seeded: then it is derived from
    the seed in force, so that two seeded runs issue the same cursors, byte for byte. Either way a
    cursor of another server (or of another seed) is refused. A cursor carries only the tenant's own
    positions (sort keys and the tenant's own insertion numbers), never a store-wide count.
    """

    def __init__(self, seed: Callable[[], int | None] = lambda: None) -> None:
        self._seed = seed
        self._random_key = secrets.token_hex(32)

    def _serializer(self) -> URLSafeSerializer:
        seed = self._seed()
        key = self._random_key if seed is None else f"mock-runtype seed {seed}"
        return URLSafeSerializer(key, salt=CURSOR_SALT)

    def encode(self, position: CursorPosition, fingerprint: str) -> str:
        return self._serializer().dumps([list(position.key), position.offset, fingerprint])

    def decode(self, cursor: str, fingerprint: str) -> CursorPosition:
        """The position a cursor names; 400 if it was forged, is another server's, or belongs to
        another query or tenant."""
        try:
            key, offset, owner = self._serializer().loads(cursor)
            if not isinstance(key, list) or type(offset) is not int or offset < 0:
                raise ValueError("malformed position")
        except (BadSignature, ValueError, TypeError):
            raise InvalidRequest("Invalid cursor", details=[{"path": "cursor", "message": "not a cursor this server issued"}]) from None
        if owner != fingerprint:
            raise InvalidRequest("Invalid cursor", details=[{"path": "cursor", "message": "the cursor belongs to another query"}])
        return CursorPosition(key=tuple(key), offset=offset)


def pagination_json(page: Any, query: ListQuery, tenant_key: str, cursors: CursorSigner) -> dict[str, Any]:
    """The contract's pagination object for a page of `query`, its cursors signed by `cursors`."""
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
        "nextCursor": cursors.encode(page.next_position, fingerprint) if page.next_position else None,
        "prevCursor": cursors.encode(page.prev_position, fingerprint) if page.prev_position else None,
        "totalCount": page.total,
        "totalPages": total_pages,
    }
