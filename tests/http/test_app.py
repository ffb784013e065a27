"""The app factory's Flask: its URL adapter, whose host part is remembered per `Host` header."""

from __future__ import annotations

from flask import request

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
    assert len(app._hosts) == MAX_REMEMBERED_HOSTS
