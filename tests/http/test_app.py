"""The app factory's Flask: its URL adapter, whose host part is remembered per `Host` header and
whose match is the operation registry's when the registry settles it."""

from __future__ import annotations

import re

from flask import request
from werkzeug.exceptions import HTTPException

from mock_runtype.contract.operations import OPERATIONS, operation_at
from mock_runtype.http.app import MAX_REMEMBERED_HOSTS, create_app

AUTH = {"Authorization": "Bearer rt_app"}


def seen(app, target: str, host: str, method: str = "GET") -> tuple:
    """What a request's context makes of its host, route and query."""
    with app.test_request_context(target, headers={"Host": host}, method=method):
        return request.host, request.endpoint, request.view_args, request.args.to_dict()


def test_each_host_is_its_own_and_each_request_its_own_route_and_query():
    app = create_app()
    for _ in range(2):  # the second time from what was remembered
        assert seen(app, "/v1/records/a?x=1", "one.localhost:8080") == (
            "one.localhost:8080", "getRecord", {"id": "a"}, {"x": "1"})
        assert seen(app, "/v1/records/%C3%A9?y=%C3%A9", "two.localhost", "DELETE") == (
            "two.localhost", "deleteRecord", {"id": "é"}, {"y": "é"})
        assert seen(app, "/v1/records", "one.localhost:8080", "POST") == (
            "one.localhost:8080", "createRecord", {}, {})


def test_a_remembered_host_routes_every_method_and_path_as_before():
    client = create_app().test_client()
    created = client.post("/v1/records", json={"type": "t", "name": "n"}, headers=AUTH)
    assert created.status_code == 201
    record_id = created.json["id"]
    assert client.get(f"/v1/records/{record_id}", headers=AUTH).json["id"] == record_id
    assert client.patch(f"/v1/records/{record_id}", json={"name": "m"}, headers=AUTH).json["name"] == "m"
    assert client.get("/v1/no-such-path", headers=AUTH).status_code == 404
    assert client.delete("/v1/records", headers=AUTH).status_code == 405


def test_a_host_flask_refuses_is_refused_every_time():
    app = create_app()
    client = app.test_client()
    for _ in range(2):
        answer = client.get("/health", headers={"Host": "a" * 64 + ".example"})  # a label past IDNA's 63
        assert answer.status_code == 400
    assert not any(key[0].startswith("a" * 64) for key in app._hosts)


def test_only_so_many_hosts_are_remembered():
    app = create_app()
    client = app.test_client()
    for number in range(MAX_REMEMBERED_HOSTS + 10):
        assert client.get("/health", headers={"Host": f"h{number}.localhost"}).status_code == 200
    assert len(app._hosts) <= MAX_REMEMBERED_HOSTS


SAMPLE_VALUES = ("abc", "é", "bulk-delete", "a.b", "123", "with space", "field-values")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def sample_paths() -> list[str]:
    paths = {"/", "/v1", "/v1/records", "/v1//records", "/v1/records/", "/nowhere", "/__admin/ui/"}
    for op in OPERATIONS:
        for value in SAMPLE_VALUES:
            path = re.sub(r"\{[^{}]+\}", value, op.path)
            paths.update({path, path + "/", path.replace("/v1/", "/v1//")})
    return sorted(paths)


def werkzeug_match(app, method: str, path: str):
    try:
        rule, args = app.url_map.bind("localhost").match(path, method, return_rule=True)
    except HTTPException as error:
        return type(error).__name__
    return rule.endpoint, args


def test_what_the_registry_finds_is_what_werkzeug_matches():
    app = create_app()
    settled = set()
    for path in sample_paths():
        for method in METHODS:
            op = operation_at(method, path)
            found = app._found(op, path, method) if op is not None else None
            if found is not None:
                settled.add(found[0].endpoint)
                assert (found[0].endpoint, found[1]) == werkzeug_match(app, method, path), (method, path)
    assert settled == {op.operation_id for op in OPERATIONS}  # each operation's own requests are settled


def test_requests_the_registry_settles_are_answered_as_routed():
    client = create_app().test_client()
    created = client.post("/v1/records", json={"type": "t", "name": "routed"}, headers=AUTH).json
    assert client.get(f"/v1/records/{created['id']}", headers=AUTH).json["name"] == "routed"
    assert client.get(f"/v1/records/{created['id']}/", headers=AUTH).json["name"] == "routed"  # Werkzeug's
    assert client.head(f"/v1/records/{created['id']}", headers=AUTH).status_code == 200
    assert client.get("/v1/records/bulk-delete", headers=AUTH).status_code == 404  # the id "bulk-delete"
    assert client.post("/v1/records/bulk-delete", json={"ids": [created["id"]]}, headers=AUTH).status_code == 200
    assert client.get(f"/v1/records/{created['id']}", headers=AUTH).status_code == 404
