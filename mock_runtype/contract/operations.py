"""The one table of what the server answers: every operation, published or not.

Each `Operation` is one method on one path (OpenAPI form, `/v1/records/{id}`): its
parameters (with the limits the parsers enforce, taken from their modules), its request body (a
schema name in `schemas/`) and every response (a schema name in `schemas/responses/`). The HTTP
layer routes from it (`mock_runtype.http.routes`), `mock_runtype.contract.openapi` publishes the
`published` ones, and the response check reads the same answers, so neither can drift from what
the server serves. Pure Python, no web framework.

Each operation also estimates, before it runs, the work a request will be (`estimate(workload)`),
so the server can tell the requests that would hold its event loop long. The unit is a *record
visit*: one record (or one fixture record, or one CSV row) read, tested, written or made. A
request that touches one record is one visit; a list page walks its page from the sort index; a
filter, a count under a filter, a type's discovery, field values, an export or a bulk edit may
visit every record of the caller (upper bounds: the count of one type is not known beforehand),
and their cost grows with what they read (`scan`): the filter's conditions on every record, the
bytes of the caller's metadata read once, and each `contains` condition over those bytes again;
a record's results are reckoned from the caller's results; the journal from its entries; work made
from a body (ids to delete, CSV rows, fixture records) from its declared length; the control
API's state and reset visit the records of their scope (the `?tenant=` one, else the whole server).
A visit is about a microsecond of work at its worst: the interception answers a request over a
thousand of them off the loop, and refuses one over the work limit (docs/limits.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import orjson

from mock_runtype.model import discovery
from mock_runtype.model import executions
from mock_runtype.model import csv_records
from mock_runtype.model import listing
from mock_runtype.model.filters import filter_weight
from mock_runtype.model.params import DEFAULT_SORT_ORDER, SORT_ORDERS, TEXT_MAX_LENGTH, TYPE_MAX_LENGTH
from mock_runtype.model.records import COMPACT_LIMIT

ADMIN_PREFIX = "/__admin"
CONSOLE_PREFIX = ADMIN_PREFIX + "/ui"
JSON = "application/json"
CSV = "text/csv"
FORM_MEDIA_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
ERROR_SCHEMA = "responses/error"
ERROR_MEANINGS = {
    400: "Bad request: a malformed body, a field or query parameter that breaks a rule (details name each)",
    401: "No usable API key (carries WWW-Authenticate)",
    403: "The key lacks the permission this needs",
    404: "No such record (or result) for this caller; other tenants' records do not exist for it",
    405: "The path exists, the method does not (carries Allow)",
    409: "The change would break a uniqueness rule (type + name); existingId names the holder",
    413: "The body is over the size limit",
    415: "The body is not in a media type this endpoint reads",
    422: "Well-formed, but the change would break a rule",
    429: "Rate limited (carries Retry-After, in seconds)",
    500: "Internal error",
}
BASE_ERRORS = (400, 401, 403, 429, 500)
BODY_ERRORS = (413, 415)
# Body bytes per unit of work, for estimates made from a body before it is read.
BYTES_PER_ID = 40  # a UUID in quotes, with its comma
BYTES_PER_CSV_ROW = 2  # the shortest row: one cell and its newline (estimates are upper bounds)
BYTES_PER_FIXTURE_RECORD = 20  # the shortest: `- {type: t, name: n1}` in flow-style YAML
BODY_BYTES_PER_VISIT = 64  # any body is parsed and validated: its length weighs as visits too
# What a scan of the caller's records costs beyond the visit of each (measured at their worst):
CONDITIONS_PER_VISIT = 8  # a filter's conditions tested on one record
METADATA_BYTES_PER_VISIT = 64  # metadata read once per request (case-folded, classified, encoded)
SCANNED_BYTES_PER_VISIT = 1_000  # one `contains` needle sought through text, without the one-pass search
ENTRY_VISITS = 16  # a journal entry shaped for the control API (up to 32 KiB)
# YAML's aliases let a few bytes stand for much work (a 268-byte fixture once held the server 22 s),
# so a fixture or scenario document weighs at least this much, far over any inline budget: it is
# read on a worker however short. (Documents are rare; the hand-off costs well under a millisecond.)
YAML_DOCUMENT_WORK = 1_000_000
# List parameters that make the walk test records: the page may take every record to fill.
SCANNING_LIST_PARAMETERS = frozenset(wire for _, wire in listing.FILTER_PARAMETERS) - {"type"}


@dataclass(frozen=True)
class Workload:
    """What a request's cost is estimated from before it runs."""

    query: Mapping[str, list[str]]  # the parsed query string
    body_bytes: int  # the declared body length
    caller_records: int  # records the caller's tenant holds (for the control API: its ?tenant=)
    count_all_records: Callable[[], int]  # counted only by the estimates that need it (the control API's)
    caller_bytes: int = 0  # bytes of the metadata of the caller's records
    body: bytes = b""  # the body, when the server has read it before the app (else only its length is known)
    count_caller_runs: Callable[[], int] = lambda: 0  # results and step results of the caller's records
    count_journal: Callable[[], int] = lambda: 0  # entries in the journal

    @property
    def all_records(self) -> int:
        """Records of every tenant (for the control API's state export and reset)."""
        return self.count_all_records()


def request_work(op: Operation, workload: Workload) -> int:
    """The request's estimated work: its operation's, or reading and checking its body, when that is more."""
    return max(op.estimate(workload), workload.body_bytes // BODY_BYTES_PER_VISIT)


def one_record(workload: Workload) -> int:
    return 1


def caller_records(workload: Workload) -> int:
    return max(1, workload.caller_records)


def scope_records(workload: Workload) -> int:
    """The control API's scope: one tenant's records with `?tenant=`, else every record."""
    return max(1, workload.caller_records if "tenant" in workload.query else workload.all_records)


def per_body(bytes_per_unit: int, most: int | None = None) -> Callable[[Workload], int]:
    """Units made from the body, reckoned from its length (at most `most`)."""
    def estimate(workload: Workload) -> int:
        units = max(1, workload.body_bytes // bytes_per_unit)
        return units if most is None else min(units, most)
    return estimate


def scan(workload: Workload, conditions: int = 1, contains: int = 0) -> int:
    """Every record of the caller visited, tested with `conditions`, its metadata read, and each
    of `contains` conditions sought through it (an upper bound: one pass finds them all, mostly)."""
    records = caller_records(workload)  # a visit tests one condition
    return (records + records * max(0, conditions - 1) // CONDITIONS_PER_VISIT
            + workload.caller_bytes // METADATA_BYTES_PER_VISIT
            + contains * workload.caller_bytes // SCANNED_BYTES_PER_VISIT)


def query_filter_weight(query: Mapping[str, list[str]]) -> tuple[int, int]:
    """(conditions, `contains` conditions) of a list or export query's filters."""
    conditions = len(SCANNING_LIST_PARAMETERS & query.keys())
    contains = 1 if "search" in query else 0  # a substring of the name or of any metadata value
    for text in query.get("recordFilter", ()):
        nodes, needles = filter_weight(_decoded(text.encode("utf-8", "surrogatepass")))
        conditions, contains = conditions + nodes, contains + needles
    return conditions, contains


def _decoded(text: bytes) -> Any:
    """JSON text decoded, or None when it does not decode (the handler's 400 answers it)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def yaml_document(bytes_per_unit: int) -> Callable[[Workload], int]:
    """A YAML (or JSON) document in the body: YAML_DOCUMENT_WORK at least, or its units when more."""
    units = per_body(bytes_per_unit)

    def estimate(workload: Workload) -> int:
        return max(YAML_DOCUMENT_WORK, units(workload)) if workload.body_bytes else 1
    return estimate


def list_page(workload: Workload) -> int:
    """A page walked from the sort index, unless a filter makes the walk (and the count) test records."""
    if SCANNING_LIST_PARAMETERS & workload.query.keys():
        return scan(workload, *query_filter_weight(workload.query))
    return max(1, min(_limit(workload.query), workload.caller_records) + 1)  # the walk takes one more


def filtered_scan(workload: Workload) -> int:
    """Every record read (an export, field values, a type's discovery), under the query's filters."""
    return scan(workload, *query_filter_weight(workload.query))


def body_filter_scan(workload: Workload) -> int:
    """Every record tested with the filter the body holds (preview filter, bulk edit)."""
    return scan(workload, *filter_weight(_decoded(workload.body)))


def caller_runs(workload: Workload) -> int:
    """A record's results, sorted and paged: the caller's results and step results bound them."""
    return max(1, workload.count_caller_runs())


def journal_entries(workload: Workload) -> int:
    return max(1, workload.count_journal() * ENTRY_VISITS)


def _limit(query: Mapping[str, list[str]]) -> int:
    """The page size asked for, as the parser will read it (the default when it will refuse it)."""
    values = query.get("limit") or [""]
    text = values[0]
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= listing.MAX_LIMIT:
        return listing.DEFAULT_LIMIT
    return int(text)


@dataclass(frozen=True)
class Answer:
    """One documented response: its status, media type and body schema (None: no body)."""

    status: int
    description: str
    schema: str | None
    media: str = JSON
    links: tuple[str, ...] = ()  # operations that take this answer's `id` as their path's id


@dataclass(frozen=True)
class Operation:
    """One method on one path, as the server implements it; `published` puts it in the OpenAPI document."""

    method: str
    path: str
    operation_id: str
    summary: str
    answers: tuple[Answer, ...]
    errors: tuple[int, ...] = BASE_ERRORS
    parameters: tuple[dict[str, Any], ...] = ()
    body: str | None = None
    body_media: tuple[str, ...] = (JSON,)
    secured: bool = True
    published: bool = True
    estimate: Callable[[Workload], int] = one_record

    @property
    def takes_file(self) -> bool:
        """Whether the body is a form carrying a file (an upload, under the upload limit, not the JSON one)."""
        return self.body_media == FORM_MEDIA_TYPES

    @property
    def admin(self) -> bool:
        """Whether this is the sandbox's own control API (guarded by the admin token, not an API key)."""
        return self.path.startswith(ADMIN_PREFIX)

    @property
    def console(self) -> bool:
        """Whether this is a page or action of the web console (HTML, under the control API's guard)."""
        return self.path == CONSOLE_PREFIX or self.path.startswith(CONSOLE_PREFIX + "/")

    def answer(self, status: int) -> Answer | None:
        """The documented answer for `status`: a success, or the error body for an error status."""
        for answer in self.answers:
            if answer.status == status:
                return answer
        if status in self.errors:
            return Answer(status, ERROR_MEANINGS[status], ERROR_SCHEMA)
        return None


def query(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    """A query parameter; arrays are sent comma-separated (`a,b`), as the server splits them."""
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": required,
                                 "description": description, "schema": schema}
    if schema.get("type") == "array":
        parameter.update(style="form", explode=False)
    return parameter


def text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def integer(low: int, high: int, default: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": low, "maximum": high}
    if default is not None:
        schema["default"] = default
    return schema


def choice(options: tuple[str, ...], default: str | None = None) -> dict[str, Any]:
    """One of `options`; the default is the first unless named."""
    return {"enum": list(options), "default": options[0] if default is None else default}


BOOLEAN = {"type": "boolean", "description": "true/false (also 1/0)"}
NAMES = {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": r"^[^,]*[^,\s][^,]*$"}}
TIMESTAMP = {"type": "string", "format": "date-time"}
KILOBYTES = {"type": "string", "pattern": f"^{listing.KILOBYTES}$"}
SORT_ORDER = {"enum": list(SORT_ORDERS), "default": DEFAULT_SORT_ORDER}

LIST_FILTERS = (
    query("type", text(TYPE_MAX_LENGTH), "Only records of this type"),
    query("name", text(TEXT_MAX_LENGTH), "Only records with exactly this name"),
    query("search", text(TEXT_MAX_LENGTH), "Case-insensitive substring of the name or any metadata value"),
    query("ownerId", text(TEXT_MAX_LENGTH), "Only records of this owner"),
    query("product_surface_id", text(TEXT_MAX_LENGTH), "Only records of this product surface"),
    query("metadata_keys", NAMES, "Records having any of these top-level metadata keys"),
    query("metadata_keys_all", NAMES, "Records having all of these top-level metadata keys"),
    query("min_fields", integer(0, listing.MAX_FIELDS), "At least this many top-level metadata keys"),
    query("max_fields", integer(0, listing.MAX_FIELDS),
          "At most this many top-level metadata keys (not below min_fields)"),
    query("distinct", text(TEXT_MAX_LENGTH), "Keep only the newest record per distinct value of this field"),
    query("metadata_types", {**NAMES, "items": {"enum": list(listing.JSON_TYPES)}},
          "Records having a top-level metadata value of any of these JSON types"),
    query("has_large_fields", BOOLEAN,
          f"Whether some top-level metadata value takes more than {listing.LARGE_FIELD_BYTES} bytes as JSON"),
    query("min_size_kb", KILOBYTES, "Metadata of at least this many kilobytes as JSON"),
    query("max_size_kb", KILOBYTES, "Metadata of at most this many kilobytes as JSON (not below min_size_kb)"),
    {"name": "recordFilter", "in": "query", "required": False,
     "description": "A filter `{type, where}` of the filter language, JSON-encoded (see docs/filters.md)",
     "content": {JSON: {"schema": {"$ref": "#/components/schemas/RecordFilter"}}}},
    query("sort_by", choice(tuple(listing.SORT_FIELDS), listing.DEFAULT_SORT_FIELD), "Sort field (snake_case accepted)"),
    query("sort_order", SORT_ORDER, "Sort direction"),
    query("includeFields", BOOLEAN, "Add availableFields (the metadata keys) to each item"),
    query("include_fields", BOOLEAN, "Same as includeFields"),
)
PAGING = (
    query("limit", integer(1, listing.MAX_LIMIT, listing.DEFAULT_LIMIT), "Page size"),
    query("cursor", {"type": "string"}, "nextCursor or prevCursor of a page of the same query"),
    query("direction", choice(listing.DIRECTIONS), "prev with a prevCursor pages backwards"),
    query("includeCount", BOOLEAN, "Fill totalCount and totalPages"),
    query("view", choice(listing.VIEWS),
          f"compact shortens strings in metadata and messages longer than {COMPACT_LIMIT} characters"),
)
EXECUTION_WINDOW = (
    query("status", NAMES, "Only these statuses"),
    query("flowId", text(TEXT_MAX_LENGTH), "Only runs of this flow"),
    query("from", TIMESTAMP, "Created at or after (ISO 8601 with a zone)"),
    query("to", TIMESTAMP, "Created at or before (not before from)"),
    query("sortOrder", SORT_ORDER, "Sort direction"),
    query("limit", integer(1, executions.MAX_LIMIT, executions.DEFAULT_LIMIT), "Page size"),
)
RECORD_ID = {"name": "id", "in": "path", "required": True, "description": "The record's id",
             "schema": {"type": "string", "minLength": 1}}
WRITE_ERRORS = BASE_ERRORS + BODY_ERRORS
RECORD_LINKS = ("getRecord", "updateRecord", "patchRecord", "getRecordCosts", "getRecordResults",
                "getRecordStepResults", "deleteRecord")


def _record_operations() -> tuple[Operation, ...]:
    record = "/v1/records/{id}"
    update = dict(
        answers=(Answer(200, "The updated record", "responses/record-written"),),
        errors=WRITE_ERRORS + (404, 409, 422), parameters=(RECORD_ID,), body="update-record",
    )
    return (
        Operation("get", "/v1/records", "listRecords", "List records with filters, sorting and cursor pagination",
                  (Answer(200, "A page of records", "responses/record-list"),), parameters=LIST_FILTERS + PAGING,
                  estimate=list_page),
        Operation("post", "/v1/records", "createRecord", "Create a record",
                  (Answer(201, "The created record", "responses/record-written", links=RECORD_LINKS),),
                  errors=WRITE_ERRORS + (409, 422), body="create-record"),
        Operation("post", "/v1/records/bulk-delete", "bulkDeleteRecords", "Delete many records by id",
                  (Answer(200, "What was deleted", "responses/bulk-delete"),), errors=WRITE_ERRORS, body="bulk-delete",
                  estimate=per_body(BYTES_PER_ID)),
        Operation("post", "/v1/records/bulk-edit", "bulkEditRecords", "Set or remove metadata fields on many records",
                  (Answer(200, "Each selected record's metadata before and after", "responses/bulk-edit"),),
                  errors=WRITE_ERRORS + (422,), body="bulk-edit", estimate=body_filter_scan),
        Operation("get", "/v1/records/export", "exportRecords", "Export the matching records as CSV",
                  (Answer(200, "The CSV file", None, CSV), Answer(204, "No record matches", None, media="")),
                  parameters=LIST_FILTERS, estimate=filtered_scan),
        Operation("get", "/v1/records/field-values", "getFieldValues", "Top distinct values of a metadata field",
                  (Answer(200, "The values with their counts", "responses/field-values"),),
                  parameters=(query("type", text(TYPE_MAX_LENGTH), "The record type", required=True),
                              query("field", text(TEXT_MAX_LENGTH), "A metadata key (dots reach into objects)",
                                    required=True),
                              query("limit", integer(1, discovery.MAX_FIELD_VALUES, discovery.DEFAULT_FIELD_VALUES),
                                    "How many values at most")),
                  estimate=filtered_scan),
        Operation("post", "/v1/records/preview-filter", "previewFilter", "Count and sample the records a filter matches",
                  (Answer(200, "The count and a few samples", "responses/preview-filter"),),
                  errors=WRITE_ERRORS, body="preview-filter", estimate=body_filter_scan),
        Operation("get", "/v1/records/schema", "discoverSchema", "Discover a type's metadata fields by sampling",
                  (Answer(200, "The fields found", "responses/schema"),),
                  parameters=(query("type", text(TYPE_MAX_LENGTH), "The record type", required=True),
                              query("sample", integer(1, discovery.MAX_SCHEMA_SAMPLE, discovery.DEFAULT_SCHEMA_SAMPLE),
                                    "How many of the newest records to sample")),
                  estimate=filtered_scan),
        Operation("post", "/v1/records/upload-csv", "uploadCsv", "Create records from the rows of a CSV file",
                  (Answer(200, "What was created and which rows failed", "responses/upload-csv"),),
                  errors=WRITE_ERRORS + (409,), body="upload-csv", body_media=FORM_MEDIA_TYPES,
                  estimate=per_body(BYTES_PER_CSV_ROW, csv_records.MAX_ROWS)),
        Operation("get", record, "getRecord", "Get a record",
                  (Answer(200, "The record", "responses/record"),), errors=BASE_ERRORS + (404,), parameters=(RECORD_ID,)),
        Operation("put", record, "updateRecord", "Update a record (partial)", **update),
        Operation("patch", record, "patchRecord", "Update a record (partial; what the SDK's records.update sends)",
                  **update),
        Operation("delete", record, "deleteRecord", "Delete a record",
                  (Answer(200, "The record is gone", "responses/deleted"),),
                  errors=BASE_ERRORS + (404,), parameters=(RECORD_ID,)),
        Operation("get", record + "/costs", "getRecordCosts", "What the flow executions over a record cost",
                  (Answer(200, "Totals and a per-model breakdown", "responses/costs"),),
                  errors=BASE_ERRORS + (404,), parameters=(RECORD_ID,), estimate=caller_runs),
        Operation("get", record + "/results", "getRecordResults", "The flow execution results over a record",
                  (Answer(200, "A page of results", "responses/results"),), errors=BASE_ERRORS + (404,),
                  parameters=(RECORD_ID, *EXECUTION_WINDOW,
                              query("page", integer(executions.FIRST_PAGE, executions.MAX_PAGE, executions.FIRST_PAGE), "Page number"),
                              query("promptId", text(TEXT_MAX_LENGTH), "Only runs of this prompt"),
                              query("sortBy", choice(executions.RESULT_SORTS, executions.DEFAULT_SORT),
                                    "Sort field"),
                              query("includeCount", BOOLEAN, "Fill total and totalPages")),
                  estimate=caller_runs),
        Operation("delete", record + "/results", "deleteRecordResult", "Delete one execution result of a record",
                  (Answer(200, "The result is gone", "responses/deleted"),),
                  errors=WRITE_ERRORS + (404,), parameters=(RECORD_ID,), body="delete-result"),
        Operation("get", record + "/step-results", "getRecordStepResults", "The flow steps run over a record",
                  (Answer(200, "A window of step results", "responses/step-results"),), errors=BASE_ERRORS + (404,),
                  parameters=(RECORD_ID, *EXECUTION_WINDOW,
                              query("batchId", text(TEXT_MAX_LENGTH), "Only steps of this batch execution"),
                              query("sortBy", choice(executions.STEP_SORTS, executions.DEFAULT_SORT),
                                    "Sort field"),
                              query("offset", integer(0, executions.MAX_OFFSET, 0), "How many to skip")),
                  estimate=caller_runs),
    )


def _admin_operations() -> tuple[Operation, ...]:
    """The control API: served, never published (it is no part of the Runtype API)."""
    def control(method: str, path: str, operation_id: str, summary: str,
                estimate: Callable[[Workload], int] = one_record) -> Operation:
        return Operation(method, ADMIN_PREFIX + path, operation_id, summary, (), errors=(), secured=False,
                         published=False, estimate=estimate)

    return (
        control("post", "/fixtures", "loadFixtures", "Load a fixture document (records, tenants, scenarios)",
                yaml_document(BYTES_PER_FIXTURE_RECORD)),
        control("get", "/fixtures", "listFixtures", "The fixtures loaded"),
        control("delete", "/fixtures", "forgetFixtures", "Forget the fixtures, so a reset no longer reloads them",
                scope_records),
        control("post", "/reset", "reset", "Back to the fixtures' state", scope_records),
        control("get", "/scenarios", "listScenarios", "The scenarios in force"),
        control("post", "/scenarios", "addScenario", "Add a scenario", yaml_document(BYTES_PER_FIXTURE_RECORD)),
        control("delete", "/scenarios/{name}", "removeScenario", "Remove a scenario"),
        control("get", "/requests", "listRequests", "The journal of requests", journal_entries),
        control("delete", "/requests", "clearRequests", "Empty the journal"),
        control("get", "/state", "exportState", "Every record, result and setting, as a fixture document",
                scope_records),
        control("get", "/clock", "readClock", "The sandbox's clock"),
        control("post", "/clock", "moveClock", "Set or advance the sandbox's clock"),
    )


# A console page rendered by Jinja2 takes up to tens of milliseconds (the journal's 200 rows): it is
# reckoned as heavy as this many visits, past any inline budget, so that a server answers it on a
# worker and the console never holds up the API's requests on the event loop.
RENDERED_PAGE_VISITS = 100_000


def rendered_page(workload: Workload) -> int:
    """A console page or action: heavy whatever it shows (see RENDERED_PAGE_VISITS)."""
    return RENDERED_PAGE_VISITS


def _console_operations() -> tuple[Operation, ...]:
    """The web console (`http/console_routes.py`): HTML pages and form actions, served, never published."""
    def page(method: str, path: str, operation_id: str, summary: str,
             estimate: Callable[[Workload], int] = rendered_page) -> Operation:
        return Operation(method, CONSOLE_PREFIX + path, operation_id, summary, (), errors=(), secured=False,
                         published=False, estimate=estimate)

    return (
        page("get", "", "consoleOverview", "Tenants, fixtures, scenarios, the clock, the settings"),
        page("get", "/records", "consoleRecords", "A tenant's records, filtered and paged"),
        page("get", "/records/{record_id}", "consoleRecord", "One record with its results and costs"),
        page("get", "/requests", "consoleRequests", "The journal, newest first"),
        page("get", "/requests/rows", "consoleRequestRows", "The journal's rows alone, for the live view"),
        page("get", "/requests/{entry_id}", "consoleRequest", "One journal entry"),
        page("get", "/actions", "consoleActions", "Forms that change the sandbox"),
        page("post", "/actions/fixtures", "consoleLoadFixture", "Load a fixture document"),
        page("post", "/actions/scenarios", "consoleAddScenario", "Add a scenario"),
        page("post", "/actions/scenarios/remove", "consoleRemoveScenario", "Remove a scenario"),
        page("post", "/actions/reset", "consoleReset", "Reset a tenant or everything"),
        page("post", "/actions/clock", "consoleMoveClock", "Set or advance a clock"),
        page("get", "/export", "consoleExport", "Download the state export"),
        page("get", "/login", "consoleLoginPage", "Ask for the admin token"),
        page("post", "/login", "consoleLogin", "Check the admin token and remember it in a cookie", one_record),
        page("post", "/logout", "consoleLogout", "Forget the console's cookie", one_record),
        page("get", "/static/{filename}", "consoleStatic", "The console's stylesheet and script", one_record),
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/health", "health", "Liveness: the server answers and its version",
              (Answer(200, "The server is up", "responses/health"),), errors=(500,), secured=False),
    Operation("get", "/openapi.json", "openapi", "This document",
              (Answer(200, "The OpenAPI 3.1 document", "responses/openapi"),), errors=(500,), secured=False),
    Operation("get", "/", "index", "Links to what this server offers (JSON, or HTML for a browser)", (),
              errors=(), secured=False, published=False),
    *_record_operations(),
    *_admin_operations(),
    *_console_operations(),
)
PUBLISHED: tuple[Operation, ...] = tuple(op for op in OPERATIONS if op.published)
_BY_ID = {op.operation_id: op for op in OPERATIONS}
_BY_ROUTE = {(op.method, op.path): op for op in OPERATIONS}
if len(_BY_ID) != len(OPERATIONS) or len(_BY_ROUTE) != len(OPERATIONS):
    raise ValueError("two operations share an operation id or a method and path")


def operation(operation_id: str) -> Operation:
    """The operation with this id (KeyError for an unknown one)."""
    return _BY_ID[operation_id]


_LITERAL = {(op.method, op.path): op for op in OPERATIONS if "{" not in op.path}
_TEMPLATED = tuple((op.method, tuple(op.path.split("/")), op) for op in OPERATIONS if "{" in op.path)


def operation_at(method: str, path: str) -> Operation | None:
    """The operation a request for `path` (HEAD counts as GET; a trailing slash is ignored, as the
    app ignores it) reaches, by the registry alone: a path's literal form before a template (as
    the router prefers it), a template's parameter one non-empty segment. A dict lookup and a
    split, for the cost estimate made before every request (a router's match costs 10-30 µs)."""
    method = "get" if method == "HEAD" else method.lower()
    path = path.rstrip("/") or "/"
    found = _LITERAL.get((method, path))
    if found is not None or "/" not in path[1:]:
        return found
    segments = path.split("/")
    for op_method, template, op in _TEMPLATED:
        if op_method == method and len(template) == len(segments) and all(
                part == given or (part[:1] == "{" and given) for part, given in zip(template, segments)):
            return op
    return None


def path_parameters(op: Operation, path: str) -> dict[str, str]:
    """The values of `op`'s path parameters in a `path` that `operation_at` found it at, without a
    trailing slash: `{"id": "abc"}` for `/v1/records/abc`."""
    return {part[1:-1]: given for part, given in zip(op.path.split("/"), path.split("/")) if part[:1] == "{"}


def find_operation(method: str, path: str) -> Operation | None:
    """The operation for an HTTP method (HEAD counts as GET) and an OpenAPI path."""
    method = "get" if method.lower() == "head" else method.lower()
    return _BY_ROUTE.get((method, path))
