"""Hostile bodies, paths and parameters: each gets a clear 4xx JSON error, and the server keeps serving.

One table, one test per row. A row builds its request from a context (the server, a tenant with a
few records, cursors of that tenant's and another tenant's listings) so that large bodies are made
only when the row runs. Requests go through `raw.send`, byte for byte, with a 10-second timeout:
a hang fails the row, while no row asserts how fast the answer came.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import quote

import pytest

from mock_runtype.sandbox.core import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_UPLOAD_BYTES
from tests.hardening.raw import Answer, send

MIB = 1024 * 1024


@dataclass
class Context:
    """What rows build requests from: the tenant's key, one of its ids, and cursors."""

    base_url: str
    api_key: str
    record_id: str
    cursor: str  # a next cursor of `type=lead&limit=1` for this tenant
    other_tenant_cursor: str  # the same query's cursor, issued to another tenant


@dataclass
class Case:
    name: str
    method: str
    path: str | Callable[[Context], str]
    body: bytes | Callable[[Context], bytes] | None = None
    content_type: str | None = "application/json"
    status: int | tuple[int, ...] = 400
    chunked: bool = False
    check: Callable[[Answer], None] | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


def js(value) -> bytes:
    return json.dumps(value).encode()


def deep_filter(depth: int) -> str:
    """A filter whose groups nest `depth` deep, as JSON text (too deep for json.dumps to build)."""
    return '{"op":"and","conditions":[' * depth + '{"field":"stage","op":"eq","value":"new"}' + "]}" * depth


def many_conditions(count: int) -> dict:
    return {"op": "or", "conditions": [{"field": "n", "op": "eq", "value": i} for i in range(count)]}


def multipart(csv_bytes: bytes, **fields: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="r.csv"\r\n'
                 f"Content-Type: text/csv\r\n\r\n".encode() + csv_bytes + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def ignored_nameless_field(answer: Answer) -> None:
    headers = {name.lower(): value for name, value in answer.headers.items()}
    assert answer.json()["created"] == 1 and headers["x-mock-runtype-ignored"] == "body."


def upload_case(name: str, csv_bytes: Callable[[], bytes], status=400, check=None, **fields: str) -> Case:
    """An upload row; the multipart body is built when the row runs (some are megabytes)."""
    boundary_holder: dict[str, str] = {}

    def body(ctx: Context) -> bytes:
        data, content_type = multipart(csv_bytes(), typeValue="lead", **fields)
        boundary_holder["Content-Type"] = content_type
        return data

    case = Case(name, "POST", "/v1/records/upload-csv", body, content_type=None, status=status, check=check)
    case.extra_headers = boundary_holder  # filled in by body() before the headers are sent
    return case


def created(count: int) -> Callable[[Answer], None]:
    def check(answer: Answer) -> None:
        assert answer.json()["created"] == count, answer.json()
    return check


def row_refused(answer: Answer) -> None:
    body = answer.json()
    assert body["created"] == 0 and body["errors"] == 1 and "longer than" in body["errorDetails"][0]


def name_query(ctx: Context, **params: str) -> str:
    return "/v1/records?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


RECORD = {"type": "lead", "name": "x"}
TEN_KB_ID = "i" * 10_240

CASES = [
    # -- sizes -------------------------------------------------------------------------------------
    Case("body just over the limit", "POST", "/v1/records",
         js({"type": "lead", "name": "x", "metadata": {"pad": "p" * DEFAULT_MAX_BODY_BYTES}}), status=413),
    Case("chunked body over the limit", "POST", "/v1/records",
         js({"type": "lead", "name": "x", "metadata": {"pad": "p" * (2 * MIB)}}), status=413, chunked=True),
    Case("multi-megabyte string", "POST", "/v1/records", js({"type": "lead", "name": "n" * (5 * MIB)}), status=413),
    Case("name of 900 KB (under the body limit)", "POST", "/v1/records", js({"type": "lead", "name": "n" * 900_000}),
         check=lambda a: a.json()["details"] == [{"path": "name", "message": "must be at most 500 characters long"}]),
    Case("bulk edit over the limit", "POST", "/v1/records/bulk-edit",
         js({"applyToAll": True, "updates": {"pad": "p" * (2 * MIB)}}), status=413),
    # -- not JSON ------------------------------------------------------------------------------------
    Case("arrays nested 100k deep", "POST", "/v1/records", b"[" * 100_000 + b"]" * 100_000),
    Case("objects nested 100k deep", "POST", "/v1/records", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    Case("metadata nested 100k deep", "POST", "/v1/records",
         b'{"type":"lead","name":"x","metadata":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001),
    Case("NaN", "POST", "/v1/records", b'{"type":"lead","name":"x","metadata":{"v":NaN}}'),
    Case("Infinity", "POST", "/v1/records", b'{"type":"lead","name":"x","metadata":{"v":Infinity}}'),
    Case("-Infinity", "POST", "/v1/records", b'{"type":"lead","name":"x","metadata":{"v":-Infinity}}'),
    Case("1e999 (overflows to infinity)", "POST", "/v1/records", b'{"type":"lead","name":"x","metadata":{"v":1e999}}'),
    Case("-1e999 in an update", "PATCH", lambda c: f"/v1/records/{c.record_id}", b'{"metadata":{"v":-1e999}}'),
    Case("1e999 in a bulk edit", "POST", "/v1/records/bulk-edit", b'{"applyToAll":true,"updates":{"v":1e999}}'),
    Case("integer of 5,000 digits", "POST", "/v1/records", b'{"type":"lead","name":"x","metadata":{"v":' + b"9" * 5000 + b"}}"),
    Case("duplicate keys", "POST", "/v1/records", b'{"type":"lead","name":"x","name":"y"}'),
    Case("duplicate keys, nested", "POST", "/v1/records", b'{"type":"lead","name":"x","metadata":{"a":1,"a":2}}'),
    Case("invalid UTF-8", "POST", "/v1/records", b'{"type":"lead","name":"\xff\xfe"}'),
    Case("overlong UTF-8 encoding of /", "POST", "/v1/records", b'{"type":"lead","name":"\xc0\xaf"}'),
    Case("UTF-16 body", "POST", "/v1/records", json.dumps(RECORD).encode("utf-16")),
    Case("BOM before the JSON", "POST", "/v1/records", b"\xef\xbb\xbf" + js(RECORD)),
    Case("escaped NUL in a string", "POST", "/v1/records", js({"type": "lead", "name": "a\u0000b"}),
         check=lambda a: a.json()["details"][0]["path"] == "name"),
    Case("escaped NUL in a metadata key", "POST", "/v1/records", js({"type": "lead", "name": "x", "metadata": {"k\u0000": 1}}),
         check=lambda a: a.json()["details"][0]["path"] == "metadata"),
    Case("escaped NUL deep in metadata", "POST", "/v1/records",
         js({"type": "lead", "name": "x", "metadata": {"a": [{"b": "\u0000"}]}}),
         check=lambda a: a.json()["details"][0]["path"] == "metadata.a[0].b"),
    Case("escaped NUL in a bulk edit", "POST", "/v1/records/bulk-edit", js({"applyToAll": True, "updates": {"v": "\u0000"}})),
    Case("raw NUL byte in a string", "POST", "/v1/records", b'{"type":"lead","name":"a\x00b"}'),
    Case("lone surrogate in a string", "POST", "/v1/records", b'{"type":"lead","name":"\\ud800"}'),
    Case("lone surrogate in a metadata key", "POST", "/v1/records", b'{"type":"lead","name":"x","metadata":{"\\udfff":1}}'),
    Case("empty body", "POST", "/v1/records", b""),
    Case("whitespace body", "POST", "/v1/records", b"   \r\n "),
    Case("truncated JSON", "POST", "/v1/records", b'{"type":"lead","name":'),
    Case("trailing garbage", "POST", "/v1/records", js(RECORD) + b"xyz"),
    Case("two JSON documents", "POST", "/v1/records", js(RECORD) + js(RECORD)),
    Case("text/plain body", "POST", "/v1/records", js(RECORD), content_type="text/plain", status=415),
    Case("no content type", "POST", "/v1/records", js(RECORD), content_type=None, status=415),
    Case("form body on a JSON endpoint", "POST", "/v1/records", b"type=lead&name=x",
         content_type="application/x-www-form-urlencoded", status=415),
    # -- wrong shapes --------------------------------------------------------------------------------
    Case("array as the body", "POST", "/v1/records", b"[]"),
    Case("string as the body", "POST", "/v1/records", b'"record"'),
    Case("null as the body", "POST", "/v1/records", b"null"),
    Case("array as metadata", "POST", "/v1/records", js({"type": "lead", "name": "x", "metadata": [1, 2]}),
         check=lambda a: a.json()["details"][0]["path"] == "metadata"),
    Case("array as a message", "POST", "/v1/records", js({"type": "lead", "name": "x", "messages": [["user", "hi"]]})),
    Case("object as the type", "POST", "/v1/records", js({"type": {"a": 1}, "name": "x"})),
    Case("array as an update body", "PATCH", lambda c: f"/v1/records/{c.record_id}", b"[]"),
    Case("array as a bulk-delete body", "POST", "/v1/records/bulk-delete", b'["a"]'),
    Case("object as bulk-delete ids", "POST", "/v1/records/bulk-delete", js({"ids": {"a": 1}})),
    Case("array as bulk-edit updates", "POST", "/v1/records/bulk-edit", js({"applyToAll": True, "updates": [1]})),
    Case("array as a preview where", "POST", "/v1/records/preview-filter", js({"type": "lead", "where": [1]})),
    Case("array as a result id", "DELETE", lambda c: f"/v1/records/{c.record_id}/results", js({"resultId": ["a"]})),
    # -- ids -----------------------------------------------------------------------------------------
    Case("id with a slash", "GET", "/v1/records/a/b", None, status=404),
    Case("id with an encoded slash", "GET", "/v1/records/a%2Fb", None, status=404),
    Case("id ..", "GET", "/v1/records/..", None, status=404),
    Case("id ../.. escaping the prefix", "GET", "/v1/records/../../etc/passwd", None, status=404),
    Case("id %2E%2E", "DELETE", "/v1/records/%2E%2E", None, status=404),
    Case("id %00", "GET", "/v1/records/%00", None, status=404),
    Case("id %00 on update", "PATCH", "/v1/records/%00", js({"name": "y"}), status=404),
    Case("id %00 on results", "GET", "/v1/records/%00/results", None, status=404),
    Case("id of invalid UTF-8", "GET", "/v1/records/%FF%FE", None, status=404),
    Case("id of 10 KB", "GET", f"/v1/records/{TEN_KB_ID}", None, status=404,
         check=lambda a: len(a.body) < 1000),
    Case("id of 10 KB on update", "PUT", f"/v1/records/{TEN_KB_ID}", js({"name": "y"}), status=404),
    Case("id of 10 KB on delete", "DELETE", f"/v1/records/{TEN_KB_ID}", None, status=404),
    Case("id of 10 KB on costs", "GET", f"/v1/records/{TEN_KB_ID}/costs", None, status=404),
    Case("10 KB ids in a bulk delete", "POST", "/v1/records/bulk-delete", js({"ids": [TEN_KB_ID]})),
    # -- query parameters ------------------------------------------------------------------------------
    Case("repeated limit", "GET", "/v1/records?limit=5&limit=6", None),
    Case("repeated type", "GET", "/v1/records?type=a&type=b", None),
    Case("huge limit", "GET", "/v1/records?limit=99999999999999999999999", None),
    Case("limit beyond the maximum", "GET", "/v1/records?limit=101", None),
    Case("negative limit", "GET", "/v1/records?limit=-1", None),
    Case("limit in exponent form", "GET", "/v1/records?limit=1e2", None),
    Case("limit in non-ASCII digits", "GET", "/v1/records?limit=%E0%A5%A7", None),
    Case("huge limit on field values", "GET", "/v1/records/field-values?type=lead&field=a&limit=1000000000", None),
    Case("huge sample on schema", "GET", "/v1/records/schema?type=lead&sample=99999999999", None),
    Case("huge page on results", "GET", lambda c: f"/v1/records/{c.record_id}/results?page=999999999999999", None),
    Case("unknown parameter", "GET", "/v1/records?limitt=5", None, status=200,
         check=lambda answer: answer.headers["x-mock-runtype-ignored"] == "query.limitt"),
    Case("type of 10 KB", "GET", "/v1/records?type=" + "t" * 10_240, None),
    Case("forged cursor", "GET", "/v1/records?type=lead&cursor=not-a-cursor", None),
    Case("forged base64 cursor", "GET", "/v1/records?type=lead&cursor=" + "A" * 64, None),
    Case("cursor with a flipped bit", "GET",
         lambda c: name_query(c, type="lead", cursor=c.cursor[:-2] + ("A" if c.cursor[-2] != "A" else "B") + c.cursor[-1]), None),
    Case("cursor of another tenant", "GET", lambda c: name_query(c, type="lead", limit="1", cursor=c.other_tenant_cursor), None),
    Case("cursor of another query", "GET", lambda c: name_query(c, type="deal", limit="1", cursor=c.cursor), None),
    Case("cursor of another order", "GET", lambda c: name_query(c, type="lead", sort_by="name", cursor=c.cursor), None),
    Case("cursor of 100 KB", "GET", "/v1/records?cursor=" + "A" * 100_000, None),
    # -- filters -------------------------------------------------------------------------------------------
    Case("recordFilter not JSON", "GET", "/v1/records?recordFilter=%7Bnope", None),
    Case("recordFilter JSON nested 10k deep", "GET", "/v1/records?recordFilter=" + "%5B" * 10_000 + "%5D" * 10_000, None),
    Case("recordFilter groups 100 deep", "GET",
         lambda c: name_query(c, recordFilter='{"type":"lead","where":' + deep_filter(100) + "}"), None),
    Case("export with groups 100 deep", "GET",
         lambda c: "/v1/records/export?" + name_query(c, recordFilter='{"where":' + deep_filter(100) + "}").split("?")[1], None),
    Case("preview where groups 10k deep", "POST", "/v1/records/preview-filter", ('{"type":"lead","where":' + deep_filter(10_000) + "}").encode()),
    Case("bulk edit recordFilter 10k deep", "POST", "/v1/records/bulk-edit",
         ('{"updates":{"a":1},"recordFilter":{"type":"lead","where":' + deep_filter(10_000) + "}}").encode()),
    Case("preview where with 20k conditions", "POST", "/v1/records/preview-filter",
         js({"type": "lead", "where": many_conditions(20_000)})),
    Case("preview where with 100k empty conditions", "POST", "/v1/records/preview-filter",
         js({"type": "lead", "where": {"op": "or", "conditions": [{}] * 100_000}})),
    Case("preview where with 100k conditions (over the body limit)", "POST", "/v1/records/preview-filter",
         js({"type": "lead", "where": many_conditions(100_000)}), status=413),
    Case("bulk edit with 100k legacy conditions", "POST", "/v1/records/bulk-edit",
         js({"conditions": [{}] * 100_000, "updates": {"a": 1}})),
    Case("in-list of 100k values", "POST", "/v1/records/preview-filter",
         js({"type": "lead", "where": {"field": "n", "op": "in", "value": list(range(100_000))}})),
    # -- CSV upload ------------------------------------------------------------------------------------
    upload_case("CSV with a million columns", lambda: b"name" + b",c" * 999_999 + b"\r\nx\r\n"),
    upload_case("CSV over the upload limit", lambda: b"name\r\n" + b"n" * DEFAULT_MAX_UPLOAD_BYTES + b"\r\n", status=413),
    upload_case("CSV with a 10 MiB field", lambda: b"name,note\r\nx," + b"v" * (10 * MIB) + b"\r\n", status=413),
    upload_case("CSV with a 5 MB field (the row is refused)", lambda: b"name,note\r\nx," + b"v" * 5_000_000 + b"\r\n",
                status=200, check=row_refused),
    upload_case("CSV in Latin-1", lambda: "name,city\r\nx,Zürich\r\n".encode("latin-1")),
    upload_case("CSV in UTF-16 without a BOM", lambda: "name\r\nx\r\n".encode("utf-16-le")),
    upload_case("CSV of binary data", lambda: bytes(range(256)) * 64),
    upload_case("CSV with an unterminated quote", lambda: b'name,note\r\nx,"open\r\n'),
    upload_case("CSV that is empty", lambda: b""),
    upload_case("CSV with a blank header", lambda: b",,\r\nx,y,z\r\n"),
    upload_case("CSV with mixed line endings (read, not refused)", lambda: b"name,n\r\na,1\nb,2\rc,3\r\n",
                status=200, check=created(3)),
    upload_case("CSV with a BOM (read, not refused)", lambda: b"\xef\xbb\xbfname,n\r\nbom,1\r\n",
                status=200, check=created(1)),
    Case("CSV form field with a lone surrogate", "POST", "/v1/records/upload-csv",
         b"typeValue=lead&file=" + quote(json.dumps("name\nx\ud800")).encode(),
         content_type="application/x-www-form-urlencoded"),
    Case("CSV form field with NUL", "POST", "/v1/records/upload-csv",
         b"typeValue=lead&file=" + quote(json.dumps("name\nx\u0000")).encode(),
         content_type="application/x-www-form-urlencoded"),
    Case("upload as JSON", "POST", "/v1/records/upload-csv", js({"file": "name\nx"}), status=415),
    # Schemathesis found it: werkzeug reads the name of this part as None, once a 500 in the report
    Case("form part whose name is an unterminated quote", "POST", "/v1/records/upload-csv",
         b'--b\r\nContent-Disposition: form-data; name="\\"\r\n\r\nx\r\n'
         b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nname,type\r\na,b\r\n--b--\r\n',
         content_type="multipart/form-data; boundary=b", status=200, check=ignored_nameless_field),
    # -- methods and paths ----------------------------------------------------------------------------
    Case("unknown path", "GET", "/v1/recordz", None, status=404),
    Case("wrong method", "DELETE", "/v1/records", None, status=405),
    Case("path of 10 KB", "GET", "/v1/" + "p" * 10_240, None, status=404),
]


@pytest.fixture(scope="module")
def context(server) -> Context:
    """A tenant with records of two types and a cursor of its own, plus another tenant's cursor."""
    keys = [f"rt_test_{uuid.uuid4().hex}" for _ in range(2)]
    cursors = []
    ids = []
    for key in keys:
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        for index in range(3):
            answer = send(server.url, "POST", "/v1/records", js({"type": "lead", "name": f"r{index}"}), auth)
            assert answer.status == 201
            ids.append(answer.json()["id"])
        page = send(server.url, "GET", "/v1/records?type=lead&limit=1", None, auth).json()
        cursors.append(page["pagination"]["nextCursor"])
    return Context(server.url, keys[0], ids[0], cursors[0], cursors[1])


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_gets_a_clear_json_error_and_the_server_keeps_serving(context: Context, case: Case):
    path = case.path(context) if callable(case.path) else case.path
    body = case.body(context) if callable(case.body) else case.body
    headers = {"Authorization": f"Bearer {context.api_key}", **case.extra_headers}
    if case.content_type:
        headers["Content-Type"] = case.content_type
    answer = send(context.base_url, case.method, path, body, headers, chunked=case.chunked)

    expected = case.status if isinstance(case.status, tuple) else (case.status,)
    assert answer.status in expected, answer.body[:500]
    assert answer.headers["content-type"].startswith("application/json")
    if answer.status >= 400:
        error = answer.json()["error"]
        assert isinstance(error, str) and 0 < len(error) < 2000, "the error names the problem without echoing the input"
    if case.check:
        case.check(answer)
    follow_up = send(context.base_url, "GET", f"/v1/records/{context.record_id}", None,
                     {"Authorization": f"Bearer {context.api_key}"})
    assert follow_up.status == 200 and follow_up.json()["id"] == context.record_id


def test_the_table_is_large_enough_to_mean_something():
    assert len(CASES) >= 100
