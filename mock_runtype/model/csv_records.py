"""Records as CSV: the export's writer and the upload's reader. Pure Python, no web framework.

Export writes `id, type, name, createdAt, updatedAt`, then one column per metadata key (the union
over the exported records, in order of first appearance). Upload reads such a file (or any CSV
with a name column) back into records. Cells are typed so that what export writes loads back to
the same metadata:

* upload: an empty cell leaves the key out; a cell that is strict JSON (`42`, `4.5`, `true`,
  `null`, `[1, 2]`, `{"a": 1}`, `"quoted text"`) is that JSON value; any other cell (`NaN`, say:
  see model/json_text.py) is text.
* export: a string is written as it is, unless upload would read it as something else (`"42"`,
  `"true"`, `""`, text that starts with a quote...): then it is written JSON-encoded. Every other
  value is written as JSON.

A metadata key that is one of the record's own columns (`id`, `type`, `name`, `createdAt`,
`updatedAt`), is empty, or starts with `metadata.` gets the column `metadata.<key>`; upload strips
one `metadata.` prefix from a column name.
"""

from __future__ import annotations

import base64
import codecs
import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from mock_runtype.model.clock import format_timestamp
from mock_runtype.model.errors import Conflict, InvalidRequest, QuotaExceeded
from mock_runtype.model.json_text import JSONTextError, loads_strict
from mock_runtype.model.pacing import paced
from mock_runtype.model.records import MAX_METADATA_BYTES, Record, metadata_size, nesting_problem, record_summary_json
from mock_runtype.model.store import Store
from mock_runtype.model.tenancy import Tenant
from mock_runtype.model.validation import UNSTORABLE_TEXT, unstorable_text_path

RECORD_COLUMNS = ("id", "type", "name", "createdAt", "updatedAt")
SERVER_COLUMNS = ("id", "createdAt", "updatedAt")  # set by the server, never read from an upload
METADATA_PREFIX = "metadata."
DEFAULT_NAME_COLUMN = "name"
DEFAULT_TYPE_COLUMN = "type"
MAX_ROWS = 10_000
MAX_COLUMNS = 500
MAX_CELL_CHARS = 131_072
MAX_NAME_LENGTH = 500
MAX_TYPE_LENGTH = 255
EXPORT_CHUNK_CHARS = 64 * 1024  # an export is sent in pieces of about this size (or one row, when longer)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")

# The csv module's own cell limit (128 KiB) would stop the reader mid-file; this module checks
# cell sizes itself (MAX_CELL_CHARS, a row-level error), so the module-wide limit only needs to
# exceed any file the upload limit lets in.
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))


class _Absent:
    """An empty cell: the key is left out of the metadata."""


ABSENT = _Absent()


def decode_cell(text: str) -> Any:
    """An uploaded metadata cell -> its value (ABSENT for an empty cell)."""
    if text == "":
        return ABSENT
    if text[0] not in '-0123456789tfn"[{ \t\r\n':
        return text  # cannot be JSON: skip the parser for ordinary text
    try:
        value = loads_strict(text)
    except (JSONTextError, RecursionError):
        return text
    # Escapes can make text no answer carries (NUL, a lone surrogate): the cell's own text is storable.
    return text if "\\u" in text and unstorable_text_path(value) is not None else value


def encode_cell(value: Any) -> str:
    """A metadata value -> the cell that `decode_cell` reads back as the same value."""
    if isinstance(value, str) and value and decode_cell(value) == value:
        return value  # only text reads back as an equal string: a JSON literal would lose its quotes
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def column_for_key(key: str) -> str:
    if key in RECORD_COLUMNS or key == "" or key.startswith(METADATA_PREFIX):
        return METADATA_PREFIX + key
    return key


def key_for_column(column: str) -> str:
    return column[len(METADATA_PREFIX):] if column.startswith(METADATA_PREFIX) else column


# -- export ---------------------------------------------------------------------------------


def export_csv(records: list[Record]) -> Iterator[str]:
    """The CSV of `records` (RFC 4180: CRLF line ends, quotes doubled), made as it is read: pieces of
    about EXPORT_CHUNK_CHARS, so an export of any size holds one piece at a time. `records` is a
    snapshot (the store replaces a changed record rather than mutating it), so the file is
    consistent however long the client takes to read it."""
    keys = list(dict.fromkeys(key for record in paced(records) for key in record.metadata))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*RECORD_COLUMNS, *(column_for_key(key) for key in keys)])
    for record in paced(records):
        metadata = record.metadata
        writer.writerow([
            record.id, record.type, record.name,
            format_timestamp(record.created_at), format_timestamp(record.updated_at),
            *(encode_cell(metadata[key]) if key in metadata else "" for key in keys),
        ])
        if buffer.tell() >= EXPORT_CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


# -- upload ---------------------------------------------------------------------------------


UPLOAD_OPTIONS = ("nameColumn", "typeColumn", "typeValue")


def upload_options(fields: dict[str, list[Any]], parts: dict[str, list[Any]],
                   ignored: list[str] | None = None) -> dict[str, str]:
    """Check an upload form's fields (plain values) and parts (files): only 'file' and the options,
    each at most once, with exactly one 'file'; return the options given non-empty. With an
    `ignored` list, other fields are added to it instead of refused."""
    given = {**fields, **parts}
    unknown = [key for key in given if key not in ("file", *UPLOAD_OPTIONS)]
    if ignored is not None:
        ignored.extend(unknown)
        given = {key: values for key, values in given.items() if key not in unknown}
    problems = [{"path": key, "message": "unknown form field"} for key in given
                if key not in ("file", *UPLOAD_OPTIONS)]
    problems += [{"path": key, "message": "given more than once"}
                 for key, values in given.items() if len(values) > 1]
    if "file" in fields and "file" in parts:
        problems.append({"path": "file", "message": "given both as a file and as a field"})
    if "file" not in given:
        problems.append({"path": "file", "message": "is required: the CSV as a file part or a form field"})
    if problems:
        raise InvalidRequest("Invalid upload: " + ", ".join(p["path"] for p in problems), details=problems)
    return {key: fields[key][0] for key in UPLOAD_OPTIONS if key in fields and fields[key][0] != ""}


def form_field_csv(value: str) -> str | bytes:
    """The CSV a plain form field holds: raw text, or a JSON string literal of it (the SDK's typed
    client sends that); bytes given to that client arrive base64-encoded inside the literal."""
    if not value.startswith('"'):
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    if not isinstance(decoded, str):
        return value
    if decoded and not any(c in decoded for c in ",;\t\r\n") and _BASE64.fullmatch(decoded) and len(decoded) % 4 == 0:
        try:
            return base64.b64decode(decoded, validate=True)
        except ValueError:
            pass
    return decoded


def decode_csv(data: str | bytes) -> str:
    """The file's text: UTF-8 (a BOM is dropped) or UTF-16 with a BOM; anything else is a 400."""
    if isinstance(data, bytes):
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            try:
                text = data.decode("utf-16")
            except UnicodeDecodeError:
                raise InvalidRequest("The file starts with a UTF-16 byte order mark but is not valid UTF-16") from None
        else:
            if b"\x00" in data:
                raise _not_text()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as error:
                line = data.count(b"\n", 0, error.start) + 1
                raise InvalidRequest(
                    f"The file is not UTF-8 text: byte 0x{data[error.start]:02X} on line {line} is not UTF-8. "
                    "Save it as CSV UTF-8 and upload it again",
                    details=[{"path": "file", "message": f"not UTF-8 (line {line})"}],
                ) from None
    else:
        text = data
    text = text.removeprefix("\ufeff")
    if UNSTORABLE_TEXT.search(text):  # NUL, or a lone surrogate from a JSON-encoded form field
        raise _not_text()
    if not text.strip():
        raise InvalidRequest("The CSV file is empty", details=[{"path": "file", "message": "empty"}])
    return text


def _not_text() -> InvalidRequest:
    return InvalidRequest("The file is not a CSV text file (it holds binary data)",
                          details=[{"path": "file", "message": "not text"}])


@dataclass
class UploadRow:
    number: int
    type: str
    name: str
    metadata: dict[str, Any]


@dataclass
class UploadPlan:
    """What an uploaded file asks for: the rows to create, and the rows already refused."""

    rows: list[UploadRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def _read_rows(text: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append(row)
            if len(rows) > MAX_ROWS + 1:
                raise InvalidRequest(f"The file has more than {MAX_ROWS} rows; split it into smaller files",
                                     details=[{"path": "file", "message": f"more than {MAX_ROWS} rows"}])
    except csv.Error as error:
        raise InvalidRequest(f"The file is not valid CSV: {error} (line {reader.line_num})",
                             details=[{"path": "file", "message": f"malformed CSV at line {reader.line_num}"}]) from None
    return rows


def plan_upload(
    data: str | bytes,
    *,
    name_column: str | None = None,
    type_column: str | None = None,
    type_value: str | None = None,
) -> UploadPlan:
    """Read an uploaded CSV into rows to create; file-level problems are 400s, row-level ones are
    kept as ("Row N: ...") errors, N counting the header as row 1."""
    rows = _read_rows(decode_csv(data))
    header = rows[0]
    if not any(header):
        raise InvalidRequest("The first row of the file must be a header naming the columns",
                             details=[{"path": "file", "message": "blank header"}])
    if len(header) > MAX_COLUMNS:
        raise InvalidRequest(f"The file has {len(header)} columns; at most {MAX_COLUMNS} are allowed",
                             details=[{"path": "file", "message": "too many columns"}])
    name_column = name_column or DEFAULT_NAME_COLUMN
    if name_column not in header:
        raise InvalidRequest(
            f"The name column '{name_column}' is not in the header (columns: {', '.join(header)[:500]})",
            details=[{"path": "nameColumn", "message": f"no column '{name_column}'"}],
        )
    if type_column and not type_value and type_column not in header:
        raise InvalidRequest(f"The type column '{type_column}' is not in the header",
                             details=[{"path": "typeColumn", "message": f"no column '{type_column}'"}])
    type_column = type_column or DEFAULT_TYPE_COLUMN
    if not type_value and type_column not in header:
        raise InvalidRequest(
            "No type for the records: give typeValue, or typeColumn naming a column of the file",
            details=[{"path": "typeValue", "message": "no type source"}],
        )
    data_rows = rows[1:]
    metadata_columns = _metadata_columns(header, data_rows, {name_column, type_column, *SERVER_COLUMNS})
    name_at = header.index(name_column)
    type_at = header.index(type_column) if not type_value else None
    plan = UploadPlan()
    seen: dict[tuple[str, str], int] = {}
    for offset, cells in enumerate(data_rows):
        number = offset + 2
        if not any(cells):
            continue  # a blank line
        problem = _row_problem(cells, header, name_column, type_column, type_at, name_at)
        if problem is None:
            row = UploadRow(number, type_value or cells[type_at], cells[name_at],
                            _row_metadata(cells, metadata_columns))
            problem = _record_problem(row, seen)
        if problem is not None:
            plan.errors.append((number, f"Row {number}: {problem}"))
        else:
            plan.rows.append(row)
    return plan


def _metadata_columns(header: list[str], rows: list[list[str]], skipped: set[str]) -> list[tuple[int, str]]:
    """(index, metadata key) of the columns that become metadata; 400 on a duplicate or nameless one."""
    columns: list[tuple[int, str]] = []
    keys: set[str] = set()
    for index, column in enumerate(header):
        if column == "":
            if any(len(row) > index and row[index] for row in rows):
                raise InvalidRequest(f"Column {index + 1} has values but no name in the header",
                                     details=[{"path": "file", "message": f"column {index + 1} has no name"}])
            continue
        if header.count(column) > 1:
            raise InvalidRequest(f"The header names the column '{column[:100]}' more than once",
                                 details=[{"path": "file", "message": "duplicate column"}])
        if column in skipped:
            continue
        key = key_for_column(column)
        if key in keys:
            raise InvalidRequest(f"Two columns give the metadata key '{key[:100]}'",
                                 details=[{"path": "file", "message": "duplicate metadata key"}])
        keys.add(key)
        columns.append((index, key))
    return columns


def _row_problem(cells: list[str], header: list[str], name_column: str, type_column: str,
                 type_at: int | None, name_at: int) -> str | None:
    if len(cells) > len(header):
        return f"has {len(cells)} values but the header has {len(header)} columns"
    cells.extend([""] * (len(header) - len(cells)))
    for index, cell in enumerate(cells):
        if len(cell) > MAX_CELL_CHARS:
            return f"the value in column '{header[index][:100]}' is longer than {MAX_CELL_CHARS} characters"
    if not cells[name_at]:
        return f"Missing required field '{name_column}'"
    if type_at is not None and not cells[type_at]:
        return f"Missing required field '{type_column}'"
    return None


def _row_metadata(cells: list[str], columns: list[tuple[int, str]]) -> dict[str, Any]:
    metadata = {}
    for index, key in columns:
        value = decode_cell(cells[index])
        if value is not ABSENT:
            metadata[key] = value
    return metadata


def _record_problem(row: UploadRow, seen: dict[tuple[str, str], int]) -> str | None:
    if len(row.name) > MAX_NAME_LENGTH:
        return f"the name is longer than {MAX_NAME_LENGTH} characters"
    if len(row.type) > MAX_TYPE_LENGTH:
        return f"the type is longer than {MAX_TYPE_LENGTH} characters"
    if metadata_size(row.metadata) > MAX_METADATA_BYTES:
        return f"the metadata is over {MAX_METADATA_BYTES} bytes"
    if (problem := nesting_problem(row.metadata)) is not None:
        return f"the metadata {problem}"
    first = seen.setdefault((row.type, row.name), row.number)
    if first != row.number:
        return f"duplicate of row {first} (type '{row.type[:80]}', name '{row.name[:80]}')"
    return None


def run_upload(store: Store, tenant: Tenant, plan: UploadPlan) -> dict[str, Any]:
    """Create the plan's records (each on its own: one failing row does not stop the others)."""
    created: list[Record] = []
    errors = list(plan.errors)
    for row in paced(plan.rows):
        try:
            created.append(store.create(tenant, {"type": row.type, "name": row.name, "metadata": row.metadata}))
        except (Conflict, QuotaExceeded) as refused:
            errors.append((row.number, f"Row {row.number}: {refused.message}"))
    errors.sort()
    processed = len(created) + len(errors)
    message = f"Processed {processed} record{'s' if processed != 1 else ''}"
    if errors:
        message += f" with {len(errors)} error{'s' if len(errors) != 1 else ''}"
    return {
        "success": bool(created) or not errors,
        "message": message + ".",
        "created": len(created),
        "errors": len(errors),
        "errorDetails": [text for _, text in errors],
        "records": [record_summary_json(r, with_type=True) for r in created],
        "warnings": None,
    }


def export_filename(record_type: str | None, now_ms: int) -> str:
    """`records-<type>-<UTC time>.csv`, with the type reduced to safe characters."""
    label = re.sub(r"[^A-Za-z0-9_-]+", "-", record_type or "all").strip("-")[:60] or "records"
    stamp = format_timestamp(now_ms)[:19].replace(":", "").replace("-", "")
    return f"records-{label}-{stamp}Z.csv"

