"""CSV export and upload over HTTP, raw and through the typed SDK, including the round trip."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
import requests
from runtype import RuntypeClient
from runtype._generated.errors.bad_request_error import BadRequestError

from mock_runtype.sandbox.core import SandboxSettings
from mock_runtype.testing import LocalServer
from tests.conftest import url

METADATA = {"note": 'comma, "quote"\nnewline', "city": "Zürich 東京", "n": 42, "ratio": 0.5, "ok": True,
            "nothing": None, "tags": ["a", "b"], "nested": {"x": {"y": 1}}, "zip": "01234", "numeric text": "42"}


def client(server, api_key=None):
    return RuntypeClient(api_key=api_key or f"rt_test_{uuid.uuid4().hex}", base_url=server.url)


def seed(http):
    for index, metadata in enumerate([METADATA, {"n": 1}, {"only": "here"}]):
        response = http.post(url(http, "/v1/records"), json={"type": "lead", "name": f"Lead {index}", "metadata": metadata})
        assert response.status_code == 201
    http.post(url(http, "/v1/records"), json={"type": "other", "name": "Elsewhere"})


def stored(http, record_type="lead"):
    data = http.get(url(http, "/v1/records"), params={"type": record_type, "limit": 100}).json()["data"]
    return {r["name"]: r["metadata"] for r in data}


def test_export_is_an_attachment_with_every_metadata_column(http):
    seed(http)
    response = http.get(url(http, "/v1/records/export"), params={"type": "lead"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="records-lead-')
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert [row["name"] for row in rows] == ["Lead 2", "Lead 1", "Lead 0"]
    assert list(rows[0])[:5] == ["id", "type", "name", "createdAt", "updatedAt"]
    assert rows[2]["note"] == METADATA["note"] and rows[2]["tags"] == '["a","b"]' and rows[2]["zip"] == "01234"
    assert rows[2]["numeric text"] == '"42"' and rows[1]["only"] == ""


def test_export_honours_filters_and_answers_204_when_nothing_matches(http, server, api_key):
    seed(http)
    filtered = http.get(url(http, "/v1/records/export"),
                        params={"recordFilter": '{"type": "lead", "where": {"field": "n", "op": "eq", "value": 1}}'})
    assert filtered.text.count("\r\n") == 2 and "Lead 1" in filtered.text
    empty = http.get(url(http, "/v1/records/export"), params={"type": "nobody"})
    assert empty.status_code == 204 and empty.content == b""
    paged = http.get(url(http, "/v1/records/export"), params={"limit": "5"})
    assert paged.status_code == 400 and paged.headers["Content-Type"] == "application/json"
    assert [d["path"] for d in paged.json()["details"]] == ["limit"]
    anonymous = requests.get(server.url + "/v1/records/export", params={"type": "lead"})
    assert anonymous.status_code == 401 and "error" in anonymous.json()
    with client(server, api_key) as sdk:
        assert "Lead 0" in sdk.api.records.export_records_as_csv(type="lead")


@pytest.mark.parametrize("how", ["file part", "typed SDK", "typed SDK bytes"])
def test_exported_csv_loads_back_into_a_fresh_tenant_as_the_same_records(http, server, how):
    seed(http)
    exported = http.get(url(http, "/v1/records/export"), params={"type": "lead"}).content
    fresh_key = f"rt_test_{uuid.uuid4().hex}"
    fresh = requests.Session()
    fresh.headers["Authorization"] = f"Bearer {fresh_key}"
    fresh.base_url = server.url
    if how == "file part":
        response = fresh.post(url(fresh, "/v1/records/upload-csv"), files={"file": ("leads.csv", exported, "text/csv")})
        assert response.status_code == 200
        answer = response.json()
        created, records = answer["created"], answer["records"]
    else:
        with client(server, fresh_key) as sdk:
            payload = exported if how == "typed SDK bytes" else exported.decode("utf-8")
            answer = sdk.api.records.upload_csv_records(file=payload)
        created, records = answer.created, answer.records
    assert created == 3 and {r.type if hasattr(r, "type") else r["type"] for r in records} == {"lead"}
    assert stored(fresh) == stored(http)
    assert stored(fresh)["Lead 0"] == METADATA


def test_upload_reports_row_errors_and_file_errors(http, server, api_key):
    text = "title,kind,score\nA,t,1\n,t,2\nB,t,3,4\nA,t,5\n"
    response = http.post(url(http, "/v1/records/upload-csv"), files={"file": ("x.csv", text)},
                         data={"nameColumn": "title", "typeColumn": "kind"})
    answer = response.json()
    assert response.status_code == 200 and answer["success"] is True and answer["created"] == 1
    assert answer["errorDetails"] == ["Row 3: Missing required field 'title'",
                                      "Row 4: has 4 values but the header has 3 columns",
                                      "Row 5: duplicate of row 2 (type 't', name 'A')"]
    assert answer["message"] == "Processed 4 records with 3 errors."

    def upload(**kwargs):
        return http.post(url(http, "/v1/records/upload-csv"), **kwargs)

    assert upload(files={"other": ("x.csv", "name,type\n")}).status_code == 400
    assert upload(data={"typeValue": "t"}).json()["details"][0]["path"] == "file"
    assert upload(files={"file": ("x.csv", b"")}).status_code == 400
    assert upload(files={"file": ("x.png", b"\x89PNG\r\n\x1a\n\x00\x00")}).json()["error"].startswith("The file is not a CSV")
    assert "not UTF-8" in upload(files={"file": ("x.csv", "name,type\nété,t\n".encode("latin-1"))}).json()["error"]
    assert upload(files={"file": ("x.csv", "kind\nt\n")}, data={"typeValue": "t"}).status_code == 400
    assert upload(json={"file": "name,type\n"}).status_code == 415
    with client(server, api_key) as sdk, pytest.raises(BadRequestError):
        sdk.api.records.upload_csv_records(file="nobody,here\n1,2\n", type_value="t")


def test_upload_may_exceed_the_json_body_limit_but_not_its_own(http, server):
    rows = "".join(f"row {i},{'x' * 1000}\n" for i in range(1500))  # about 1.5 MB
    response = http.post(url(http, "/v1/records/upload-csv"), files={"file": ("big.csv", "name,text\n" + rows)},
                         data={"typeValue": "bulk"})
    assert response.status_code == 200 and response.json()["created"] == 1500
    with client(server) as sdk:  # as a plain form field, past the form-field memory default too
        assert sdk.api.records.upload_csv_records(file="name,text\n" + rows, type_value="bulk").created == 1500

    with LocalServer(SandboxSettings(max_upload_bytes=10_000)) as small:
        too_big = requests.post(small.url + "/v1/records/upload-csv", headers={"Authorization": "Bearer k"},
                                files={"file": ("big.csv", "name,text\n" + rows[:20_000])}, data={"typeValue": "t"})
        assert too_big.status_code == 413 and "10000 bytes" in too_big.json()["error"]


def test_a_large_export_streams_and_its_journal_entry_keeps_a_flagged_preview(http, server, api_key):
    rows = "type,name,n\n" + "".join(f"bulk,Record {n},{n}\n" for n in range(3000))
    uploaded = http.post(url(http, "/v1/records/upload-csv"), files={"file": ("r.csv", rows, "text/csv")})
    assert uploaded.status_code == 200, uploaded.text
    response = http.get(url(http, "/v1/records/export"), params={"type": "bulk"})
    assert response.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in response.headers
    exported = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert sorted(int(row["n"]) for row in exported) == list(range(3000))
    fresh = requests.post(server.url + "/v1/records/upload-csv", headers={"Authorization": f"Bearer {api_key}-copy"},
                          files={"file": ("export.csv", response.content, "text/csv")})
    assert (fresh.json()["created"], fresh.json()["errors"]) == (3000, 0)
    entry = server.admin("GET", "/requests", params={"tenant": api_key}).json()["requests"][-1]
    assert (entry["path"], entry["truncated"]) == ("/v1/records/export", ["response"])
    assert entry["response"].startswith("id,type,name,createdAt,updatedAt,n\r\n")


def test_a_cell_whose_json_holds_a_lone_surrogate_is_kept_as_its_text(http, server):
    """`"\\ud800"` reads as JSON to a string no UTF-8 answer can carry: stored so, the upload's
    answer (and every later read) was a 500. Kept as the cell's own text instead."""
    cell = '"\\ud800 \\u0000"'
    body = f'type,name,note\nlead,Surrogate,"{cell.replace(chr(34), chr(34) * 2)}"\n'
    response = http.post(url(http, "/v1/records/upload-csv"), files={"file": ("s.csv", body.encode())})
    assert response.status_code == 200, response.text
    assert stored(http) == {"Surrogate": {"note": cell}}
