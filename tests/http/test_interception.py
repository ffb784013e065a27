"""The interception's journaling of a streamed answer: passed through chunk by chunk, journaled as
a flagged preview, recorded before the last chunk is handed on or when the body is closed early."""

from __future__ import annotations

from mock_runtype.sandbox.exchange import Exchange
from mock_runtype.http.interception import JournaledStream
from mock_runtype.sandbox.journal import BODY_PREVIEW_BYTES, Journal


class AppBody:
    """An app's streamed body that remembers whether it was closed."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self):
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def export_exchange() -> Exchange:
    return Exchange("GET", "/v1/records/export", {}, {}, b"", "rt_key", 0, status=200, response_type="text/csv")


def test_a_streamed_answer_is_journaled_before_its_last_chunk_is_handed_on():
    chunks = [bytes([65 + n]) * 3000 for n in range(4)]
    journal = Journal()
    stream = JournaledStream(AppBody(chunks), export_exchange(), journal)
    passed = iter(stream)
    assert [next(passed) for _ in range(3)] == chunks[:3] and journal.entries("rt_key") == []
    assert next(passed) == chunks[3]
    [entry] = journal.entries("rt_key")
    assert entry["truncated"] == ["response"]
    assert entry["response"] == (b"".join(chunks)[:BODY_PREVIEW_BYTES]).decode()
    assert list(passed) == []


def test_a_body_closed_early_is_journaled_once_and_the_apps_body_closed():
    body = AppBody([b"id,name\r\n", b"1,a\r\n", b"2,b\r\n"])
    journal = Journal()
    stream = JournaledStream(body, export_exchange(), journal)
    passed = iter(stream)
    next(passed)  # the client goes away after the first chunk
    stream.close()
    stream.close()
    [entry] = journal.entries("rt_key")
    assert body.closed and entry["response"] == "id,name\r\n1,a\r\n" and "truncated" not in entry


def test_a_body_closed_unread_is_still_journaled():
    body = AppBody([b"id\r\n"])
    journal = Journal()
    JournaledStream(body, export_exchange(), journal).close()
    assert body.closed and [e["response"] for e in journal.entries("rt_key")] == [None]  # nothing was sent


def planned(path, **builder):
    """The interception's plan of a request, as the engine asks for it before calling the app."""
    from werkzeug.test import EnvironBuilder

    from mock_runtype.http.app import create_app
    from mock_runtype.http.interception import interception_of

    environ = EnvironBuilder(path=path, **builder).get_environ()
    return interception_of(create_app()).plan(environ)


def test_an_upload_of_many_short_rows_leaves_the_loop():
    """Rows are as short as a name and a newline: 8,000 of them fit in 36 KB, which the estimate of
    50 bytes a row took for 720 rows, and answered on the loop."""
    import io

    rows = "name\n" + "".join(f"{n:x}\n" for n in range(8000))
    context = planned("/v1/records/upload-csv", method="POST", headers={"Authorization": "Bearer rt_key"},
                      data={"file": (io.BytesIO(rows.encode()), "rows.csv"), "typeValue": "t"})
    assert context.heavy


def test_a_fixture_document_of_many_short_records_leaves_the_loop():
    """A record in flow style is about 20 bytes: 2,600 of them fit in 64 KB, which the estimate of
    100 bytes a record took for 640 records, and loaded on the loop (about 0.6 s)."""
    document = "records:\n" + "".join(f"- {{type: t, name: n{n}}}\n" for n in range(2600))
    context = planned("/__admin/fixtures", method="POST", query_string="tenant=rt_key", data=document,
                      content_type="application/yaml")
    assert context.heavy


def test_each_endpoint_names_its_own_body_limit_for_the_engine():
    from mock_runtype.http.app import create_app
    from mock_runtype.http.interception import interception_of
    from mock_runtype.sandbox.core import Sandbox, SandboxSettings

    limits = interception_of(create_app(Sandbox(SandboxSettings(max_body_bytes=100, max_upload_bytes=5000))))
    assert limits.body_limit_of("POST", "/v1/records/upload-csv") == 5000
    assert limits.body_limit_of("POST", "/v1/records/upload-csv/") == 5000  # the app ignores a trailing slash
    for method, path in [("POST", "/v1/records"), ("PATCH", "/v1/records/r1"), ("POST", "/__admin/fixtures"),
                         ("GET", "/v1/records/upload-csv"), ("POST", "/no/such/path")]:
        assert limits.body_limit_of(method, path) == 100, (method, path)
