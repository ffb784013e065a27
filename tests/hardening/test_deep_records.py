"""No record a write accepts can make a later read fail: metadata and messages nest at most
MAX_NESTING levels (a 400 naming the limit past it, on every write path), and every read serves a
record at the limit."""

from __future__ import annotations

import json

import pytest

from mock_runtype.model.records import MAX_NESTING
from mock_runtype.sandbox.fixtures import FixtureError, parse_fixture
from tests.conftest import url


def nested(levels: int, leaf: object = "x" * 150) -> dict:
    """An object `levels` deep: {"a": {"a": ... {"a": leaf}}}."""
    value: object = leaf
    for _ in range(levels):
        value = {"a": value}
    return value  # type: ignore[return-value]


DOTTED = ".".join(["a"] * (MAX_NESTING - 1))


def test_a_record_past_the_limit_is_refused_on_create_and_update(http):
    for body in ({"type": "t", "name": "deep", "metadata": nested(MAX_NESTING + 1)},
                 {"type": "t", "name": "deep", "metadata": nested(500)},
                 {"type": "t", "name": "deep", "messages": [{"role": "user", "content": [nested(MAX_NESTING)]}]}):
        answer = http.post(url(http, "/v1/records"), json=body)
        assert answer.status_code == 400, answer.text
        assert f"past the limit of {MAX_NESTING}" in answer.json()["error"]
    assert http.get(url(http, "/v1/records")).json()["data"] == []
    record = http.post(url(http, "/v1/records"), json={"type": "t", "name": "n"}).json()
    for method in ("put", "patch"):
        answer = getattr(http, method)(url(http, f"/v1/records/{record['id']}"), json={"metadata": nested(MAX_NESTING + 1)})
        assert answer.status_code == 400 and answer.json()["details"][0]["path"] == "metadata"
    edit = http.post(url(http, "/v1/records/bulk-edit"), json={"applyToAll": True, "updates": {"a": nested(MAX_NESTING)}})
    assert edit.status_code == 400 and edit.json()["details"][0]["path"] == "updates"
    assert http.get(url(http, f"/v1/records/{record['id']}")).json()["metadata"] == {}


def test_csv_upload_and_fixtures_refuse_it_too(http):
    cell = json.dumps(nested(MAX_NESTING)).replace('"', '""')
    text = f'title,kind,deep\nA,t,"{cell}"\n'
    answer = http.post(url(http, "/v1/records/upload-csv"), files={"file": ("x.csv", text)},
                       data={"nameColumn": "title", "typeColumn": "kind"}).json()
    assert answer["created"] == 0 and f"past the limit of {MAX_NESTING}" in answer["errorDetails"][0]
    document = json.dumps({"tenants": [{"apiKey": "k"}],
                           "records": [{"tenant": "k", "type": "t", "name": "n", "metadata": nested(MAX_NESTING + 1)}]})
    with pytest.raises(FixtureError) as caught:
        parse_fixture(document)
    assert caught.value.problems[0].path == "records[0].metadata"


def test_every_read_serves_the_deepest_record_accepted(http, server, api_key):
    metadata = nested(MAX_NESTING)
    messages = [{"role": "user", "content": [nested(MAX_NESTING - 3)]}]
    created = http.post(url(http, "/v1/records"), json={"type": "t", "name": "deep", "metadata": metadata,
                                                        "messages": messages})
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]
    where = {"field": f"metadata.{DOTTED}", "op": "contains", "value": "xxx"}
    reads = [
        ("get", f"/v1/records/{record_id}", None),
        ("get", f"/v1/records/{record_id}?view=compact", None),
        ("get", "/v1/records?view=compact", None),
        ("get", "/v1/records/schema?type=t", None),
        ("get", f"/v1/records/field-values?type=t&field={DOTTED}", None),
        ("get", "/v1/records?recordFilter=" + json.dumps({"type": "t", "where": where}), None),
        ("post", "/v1/records/preview-filter", {"type": "t", "where": where}),
        ("get", "/v1/records/export", None),
    ]
    for method, path, body in reads:
        answer = http.request(method, url(http, path), json=body)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    compacted = http.get(url(http, f"/v1/records/{record_id}?view=compact")).json()["metadata"]
    assert json.dumps(compacted).count('"a"') == MAX_NESTING
    state = http.get(server.url + "/__admin/state", params={"tenant": api_key})
    assert state.status_code == 200
    parse_fixture(state.text, scope=api_key)  # and it loads back
