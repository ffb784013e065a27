"""The records endpoints over real HTTP, as a plain client (requests) sees them."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from mock_runtype.sandbox.core import SandboxSettings
from mock_runtype.testing import new_api_key
from tests.conftest import RunningServer, url

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RECORD_FIELDS = {
    "id", "userId", "organizationId", "ownerId", "type", "name", "metadata", "messages",
    "productSurfaceId", "metadataSchema", "metadataLabels", "schemaValid", "createdAt", "updatedAt",
}


def create(http: requests.Session, **body) -> requests.Response:
    return http.post(url(http, "/v1/records"), json=body)


def test_health_answers_json(http):
    response = http.get(url(http, "/health"))
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_create_returns_every_field_of_the_record(http):
    response = create(http, type="customer", name="Acme Corp", metadata={"industry": "tech"})
    assert response.status_code == 201
    record = response.json()
    assert RECORD_FIELDS <= set(record)
    assert uuid.UUID(record["id"]).version == 4
    assert ISO_Z.match(record["createdAt"]) and record["createdAt"] == record["updatedAt"]
    assert record["metadataSchema"] == {"keys": ["industry"]}
    assert record["metadataLabels"] == {}  # as in the reference's create example
    assert record["metadata"] == {"industry": "tech"}
    assert record["userId"].startswith("user_") and record["organizationId"].startswith("org_")
    assert http.get(url(http, f"/v1/records/{record['id']}")).json() == {
        k: v for k, v in record.items() if k not in ("warnings", "schemaWarnings")
    }


def test_metadata_defaults_to_empty_object(http):
    record = create(http, type="t", name="bare").json()
    assert record["metadata"] == {} and record["metadataSchema"] == {"keys": []}
    assert record["messages"] is None and record["ownerId"] is None


def test_the_tenant_is_stable_per_token_and_bare_tokens_work(http, api_key):
    first = create(http, type="t", name="a").json()
    bare = requests.get(url(http, f"/v1/records/{first['id']}"), headers={"Authorization": api_key})
    assert bare.status_code == 200 and bare.json()["userId"] == first["userId"]


def test_duplicate_type_and_name_is_409(http):
    assert create(http, type="customer", name="Acme").status_code == 201
    again = create(http, type="customer", name="Acme")
    assert again.status_code == 409
    assert "already exists" in again.json()["error"]


def test_parallel_creates_of_one_name_give_one_201(http):
    def attempt(_):
        return create(http, type="race", name="only-one").status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(attempt, range(24)))
    assert statuses.count(201) == 1 and statuses.count(409) == 23


def test_validation_names_every_bad_field_and_stores_nothing(http):
    response = create(http, type="", name="x" * 501, metadata=[], messages=[{"role": "robot"}], ownerId=5)
    assert response.status_code == 400
    body = response.json()
    paths = {d["path"] for d in body["details"]}
    assert {"type", "name", "metadata", "messages[0].role", "messages[0].content", "ownerId"} <= paths
    assert body["error"].startswith("Validation failed")
    assert http.get(url(http, "/v1/records")).json()["data"] == []


def test_missing_required_and_unknown_fields_are_named(http):
    body = create(http, metdata={}).json()
    assert {d["path"] for d in body["details"]} == {"type", "name", "metdata"}


def test_bad_bodies_get_clear_4xx(http):
    endpoint = url(http, "/v1/records")
    cases = [
        (dict(data="{not json", headers={"Content-Type": "application/json"}), 400, "Malformed JSON"),
        (dict(data="[1, 2]", headers={"Content-Type": "application/json"}), 400, "JSON object"),
        (dict(data="", headers={"Content-Type": "application/json"}), 400, "empty"),
        (dict(data='{"type": "t", "name": NaN}', headers={"Content-Type": "application/json"}), 400, "NaN"),
        (dict(data='{"type": "t", "type": "u", "name": "n"}', headers={"Content-Type": "application/json"}), 400, "duplicate"),
        (dict(data=b'{"type": "t", "name": "\xff"}', headers={"Content-Type": "application/json"}), 400, "UTF-8"),
        (dict(data="type=t&name=n", headers={"Content-Type": "application/x-www-form-urlencoded"}), 415, "application/json"),
        (dict(data="[" * 100_000, headers={"Content-Type": "application/json"}), 400, "Malformed JSON"),
    ]
    for kwargs, status, words in cases:
        response = http.post(endpoint, **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        assert words in response.json()["error"], response.text
    assert http.get(endpoint).json()["data"] == []


def test_body_over_the_limit_is_413(http):
    response = create(http, type="t", name="big", metadata={"blob": "x" * (1024 * 1024)})
    assert response.status_code == 413
    assert "too large" in response.json()["error"]


def test_metadata_over_1_mib_is_422_on_create_and_update_as_on_bulk_edit():
    with RunningServer(SandboxSettings(max_body_bytes=3 * 1024 * 1024)) as server, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {new_api_key()}"
        session.base_url = server.url
        big = {"blob": "x" * (1024 * 1024)}
        refused = create(session, type="t", name="big", metadata=big)
        assert refused.status_code == 422, refused.text
        assert "1048576-byte limit" in refused.json()["error"]
        assert refused.json()["details"][0]["path"] == "metadata"
        record_id = create(session, type="t", name="small", metadata={"n": 1}).json()["id"]
        for method in ("put", "patch"):
            response = session.request(method, url(session, f"/v1/records/{record_id}"), json={"metadata": big})
            assert response.status_code == 422 and "1048576-byte limit" in response.json()["error"]
        edit = session.post(url(session, "/v1/records/bulk-edit"), json={"recordIds": [record_id], "updates": big})
        assert edit.status_code == 422 and "1048576-byte limit" in edit.json()["error"]
        assert session.get(url(session, f"/v1/records/{record_id}")).json()["metadata"] == {"n": 1}
        assert [r["name"] for r in session.get(url(session, "/v1/records")).json()["data"]] == ["small"]


def test_auth_missing_or_empty_is_401_with_www_authenticate(server):
    for headers in ({}, {"Authorization": ""}, {"Authorization": "Bearer "}, {"Authorization": "Bearer  "}):
        response = requests.get(server.url + "/v1/records", headers=headers)
        assert response.status_code == 401, headers
        assert "WWW-Authenticate" in response.headers and "error" in response.json()


def test_another_tenants_record_is_404_everywhere(http, server):
    record = create(http, type="secret", name="mine").json()
    stranger = {"Authorization": f"Bearer rt_test_{uuid.uuid4().hex}"}
    path = f"{server.url}/v1/records/{record['id']}"
    assert requests.get(path, headers=stranger).status_code == 404
    assert requests.patch(path, json={"name": "x"}, headers=stranger).status_code == 404
    assert requests.delete(path, headers=stranger).status_code == 404
    assert requests.get(server.url + "/v1/records", headers=stranger).json()["data"] == []
    assert http.get(url(http, f"/v1/records/{record['id']}")).json()["name"] == "mine"


def test_put_and_patch_are_partial_and_replace_metadata(http):
    record = create(http, type="t", name="a", metadata={"x": 1, "y": 2}).json()
    path = url(http, f"/v1/records/{record['id']}")
    patched = http.patch(path, json={"metadata": {"z": 3}}).json()
    assert patched["metadata"] == {"z": 3} and patched["name"] == "a"
    assert patched["metadataSchema"] == {"keys": ["z"]}
    assert patched["updatedAt"] > record["updatedAt"] and patched["createdAt"] == record["createdAt"]
    put = http.put(path, json={"name": "b", "ownerId": "owner-1"}).json()
    assert put["name"] == "b" and put["metadata"] == {"z": 3} and put["ownerId"] == "owner-1"
    assert http.put(path, json={"ownerId": None}).json()["ownerId"] is None


def test_update_errors(http):
    create(http, type="t", name="taken")
    record = create(http, type="t", name="free").json()
    path = url(http, f"/v1/records/{record['id']}")
    assert http.put(path, json={"name": "taken"}).status_code == 409
    bad = http.patch(path, json={"name": "", "type": 3})
    assert bad.status_code == 400 and {d["path"] for d in bad.json()["details"]} == {"name", "type"}
    assert http.get(path).json()["name"] == "free"
    assert http.put(url(http, "/v1/records/nope"), json={"name": "x"}).status_code == 404


def test_an_update_with_no_field_answers_the_record_unchanged(http):
    record = create(http, type="t", name="kept", metadata={"x": 1}).json()
    path = url(http, f"/v1/records/{record['id']}")
    for method in ("put", "patch"):
        response = http.request(method, path, json={})
        assert response.status_code == 200
        assert response.json() == record
    assert http.get(path).json()["updatedAt"] == record["updatedAt"]
    assert http.put(url(http, "/v1/records/nope"), json={}).status_code == 404


def test_delete_then_second_delete_is_404(http):
    record = create(http, type="t", name="gone").json()
    path = url(http, f"/v1/records/{record['id']}")
    response = http.delete(path)
    assert response.status_code == 200 and response.json()["success"] is True
    assert http.get(path).status_code == 404
    second = http.delete(path)
    assert second.status_code == 404 and "not found" in second.json()["error"].lower()


def test_unknown_paths_and_methods_answer_json(http):
    missing = http.get(url(http, "/v1/nothing-here"))
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/json"
    assert http.get(url(http, "/v1/records/a/b/c")).status_code == 404
    wrong = http.delete(url(http, "/v1/records"))
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
    assert "not allowed" in wrong.json()["error"]


def test_list_walks_every_record_once_with_cursors_both_ways(http):
    names = [f"r{i:02d}" for i in range(23)]
    for name in names:
        create(http, type="walk", name=name)
    seen, cursor, pages = [], None, []
    while True:
        params = {"type": "walk", "limit": 5, **({"cursor": cursor} if cursor else {})}
        body = http.get(url(http, "/v1/records"), params=params).json()
        pages.append(body)
        seen += [r["name"] for r in body["data"]]
        if not body["pagination"]["hasMore"]:
            break
        cursor = body["pagination"]["nextCursor"]
    assert seen == list(reversed(names))
    assert [p["pagination"]["currentOffset"] for p in pages] == [0, 5, 10, 15, 20]
    assert pages[-1]["pagination"]["nextCursor"] is None
    back = http.get(url(http, "/v1/records"), params={
        "type": "walk", "limit": 5, "direction": "prev", "cursor": pages[2]["pagination"]["prevCursor"],
    }).json()
    assert [r["id"] for r in back["data"]] == [r["id"] for r in pages[1]["data"]]


def test_a_cursor_is_a_position_so_changes_between_pages_shift_nothing(http):
    ids = [create(http, type="keyset", name=f"k{i}").json()["id"] for i in range(6)]
    params = {"type": "keyset", "limit": 3, "sort_by": "updatedAt", "sort_order": "asc"}
    first = http.get(url(http, "/v1/records"), params=params).json()
    assert [r["name"] for r in first["data"]] == ["k0", "k1", "k2"]
    http.delete(url(http, f"/v1/records/{ids[2]}"))  # the record the cursor was taken from
    http.delete(url(http, f"/v1/records/{ids[4]}"))
    http.patch(url(http, f"/v1/records/{ids[0]}"), json={"metadata": {"seen": True}})  # moves to the end
    create(http, type="keyset", name="late")
    second = http.get(url(http, "/v1/records"), params={**params, "cursor": first["pagination"]["nextCursor"]}).json()
    assert [r["name"] for r in second["data"]] == ["k3", "k5", "k0"]
    assert second["pagination"]["currentOffset"] == 3 and second["pagination"]["hasMore"] is True


def test_going_back_past_the_start_gives_the_first_page(http):
    ids = [create(http, type="back", name=f"b{i}").json()["id"] for i in range(7)]
    params = {"type": "back", "limit": 3}
    first = http.get(url(http, "/v1/records"), params=params).json()
    second = http.get(url(http, "/v1/records"), params={**params, "cursor": first["pagination"]["nextCursor"]}).json()
    for record in first["data"]:
        http.delete(url(http, f"/v1/records/{record['id']}"))
    back = http.get(url(http, "/v1/records"), params={
        **params, "direction": "prev", "cursor": second["pagination"]["prevCursor"]}).json()
    assert [r["id"] for r in back["data"]] == list(reversed(ids))[3:6]
    pagination = back["pagination"]
    assert pagination["currentOffset"] == 0 and pagination["currentPage"] == 1
    assert pagination["hasPrev"] is False and pagination["prevCursor"] is None
    assert pagination["hasMore"] is True
    rest = http.get(url(http, "/v1/records"), params={**params, "cursor": pagination["nextCursor"]}).json()
    assert [r["id"] for r in rest["data"]] == [ids[0]] and rest["pagination"]["hasMore"] is False


def test_a_short_page_backward_is_the_first_page_with_its_offset_zero(http):
    ids = [create(http, type="short", name=f"s{i}").json()["id"] for i in range(6)]
    params = {"type": "short", "limit": 3}
    first = http.get(url(http, "/v1/records"), params=params).json()
    second = http.get(url(http, "/v1/records"), params={**params, "cursor": first["pagination"]["nextCursor"]}).json()
    http.delete(url(http, f"/v1/records/{first['data'][0]['id']}"))
    back = http.get(url(http, "/v1/records"), params={
        **params, "direction": "prev", "cursor": second["pagination"]["prevCursor"]}).json()
    assert [r["id"] for r in back["data"]] == list(reversed(ids))[1:4]
    assert back["pagination"]["currentOffset"] == 0 and back["pagination"]["hasPrev"] is False
    assert back["pagination"]["hasMore"] is True


def test_list_count_sort_fields_and_compact_view(http):
    create(http, type="s", name="b", metadata={"note": "y" * 150, "k": 1})
    create(http, type="s", name="a", metadata={"note": "short"})
    create(http, type="other", name="c")
    body = http.get(url(http, "/v1/records"), params={
        "type": "s", "sort_by": "name", "sort_order": "asc", "includeCount": "true",
        "includeFields": "true", "view": "compact", "limit": 1,
    }).json()
    assert [r["name"] for r in body["data"]] == ["a"]
    assert body["pagination"]["totalCount"] == 2 and body["pagination"]["totalPages"] == 2
    assert body["data"][0]["availableFields"] == ["note"]
    assert body["filtersApplied"] == {"type": "s"}
    second = http.get(url(http, "/v1/records"), params={
        "type": "s", "sort_by": "name", "sort_order": "asc", "view": "compact", "limit": 1,
        "cursor": body["pagination"]["nextCursor"],
    }).json()
    assert second["data"][0]["metadata"]["note"] == "y" * 100 + "…"


def test_list_filters(http):
    create(http, type="f", name="Alpha", metadata={"city": "Paris", "a": 1, "b": 2}, ownerId="o1")
    create(http, type="f", name="Beta", metadata={"city": "Berlin"})
    create(http, type="g", name="Gamma", metadata={"nested": {"note": "PARIS office"}})

    def names(**params):
        response = http.get(url(http, "/v1/records"), params=params)
        assert response.status_code == 200, response.text
        return sorted(r["name"] for r in response.json()["data"])

    assert names(type="f") == ["Alpha", "Beta"]
    assert names(name="Beta") == ["Beta"]
    assert names(search="paris") == ["Alpha", "Gamma"]
    assert names(ownerId="o1") == ["Alpha"]
    assert names(metadata_keys="a,nested") == ["Alpha", "Gamma"]
    assert names(metadata_keys_all="a,b") == ["Alpha"]
    assert names(min_fields="2") == ["Alpha"]
    assert names(max_fields="1") == ["Beta", "Gamma"]
    assert names(product_surface_id="prod_surface_001") == []


def test_bad_list_parameters_are_400_naming_each(http):
    response = http.get(url(http, "/v1/records"), params={
        "limit": "500", "sort_by": "color", "direction": "sideways", "includeCount": "maybe", "bogus": "1",
    })
    assert response.status_code == 400
    assert {d["path"] for d in response.json()["details"]} == {"limit", "sort_by", "direction", "includeCount", "bogus"}
    repeated = http.get(url(http, "/v1/records") + "?type=a&type=b")
    assert repeated.status_code == 400 and repeated.json()["details"][0]["path"] == "type"
    forged = http.get(url(http, "/v1/records"), params={"cursor": "Zm9yZ2Vk"})
    assert forged.status_code == 400 and forged.json()["error"] == "Invalid cursor"


def test_a_record_filter_naming_a_lone_surrogate_is_a_400(http):
    """The filter's JSON reads `\\ud800` to a string; the error naming it as a field (or an operator)
    could not be written as UTF-8, and the answer was Flask's own 500."""
    for text in ('{"type": "t", "where": {"\\ud800": {"eq": 1}}}', '{"type": "t", "where": {"x": {"\\ud800": 1}}}',
                 '{"type": "t", "where": {"x": {"eq": "\\ud800"}}}'):
        response = http.get(url(http, "/v1/records"), params={"recordFilter": text})
        assert response.status_code == 400, (text, response.text)
        assert response.json()["details"][0]["path"].startswith("recordFilter")
