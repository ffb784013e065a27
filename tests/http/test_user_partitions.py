"""Records belong to the user (organization + user), shared by every key of that user, each key
with its own permissions (read, write, delete); open mode gives every unknown key a user of its own."""

from __future__ import annotations

import pytest
import requests
from runtype import AuthenticationError, NotFoundError, RuntypeClient
from runtype._generated.errors.forbidden_error import ForbiddenError
from runtype._generated.errors.not_found_error import NotFoundError as TypedNotFoundError

from mock_runtype.testing import new_api_key

ALICE = """
settings: {strictAuth: true}
tenants:
  - {apiKey: alice_all, organizationId: org_acme, userId: user_alice}
  - {apiKey: alice_writer, organizationId: org_acme, userId: user_alice, permissions: [read, write]}
  - {apiKey: alice_reader, organizationId: org_acme, userId: user_alice, permissions: [read]}
  - {apiKey: bob, organizationId: org_acme, userId: user_bob}
records:
  - {tenant: alice_writer, type: customer, name: Acme, results: [{status: completed}]}
  - {tenant: bob, type: customer, name: Initech}
"""


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def alice(own_server):
    """A server where Alice has three keys and Bob, of the same organization, one."""
    loaded = own_server.admin("POST", "/fixtures", data=ALICE, headers={"Content-Type": "application/yaml"})
    assert loaded.status_code == 201, loaded.text
    return own_server


def names(server, key: str) -> list[str]:
    return [r["name"] for r in requests.get(f"{server.url}/v1/records", headers=bearer(key)).json()["data"]]


def test_every_key_of_one_user_sees_the_same_records_and_another_user_none(alice):
    base = f"{alice.url}/v1/records"
    created = requests.post(base, json={"type": "customer", "name": "Globex"}, headers=bearer("alice_writer")).json()
    assert created["userId"] == "user_alice" and created["organizationId"] == "org_acme"
    for key in ("alice_all", "alice_writer", "alice_reader"):
        assert sorted(names(alice, key)) == ["Acme", "Globex"]
    assert requests.get(f"{base}/{created['id']}", headers=bearer("alice_reader")).json()["name"] == "Globex"
    assert names(alice, "bob") == ["Initech"]
    assert requests.get(f"{base}/{created['id']}", headers=bearer("bob")).status_code == 404
    # Uniqueness of type and name is the user's, whichever key writes.
    clash = requests.post(base, json={"type": "customer", "name": "Globex"}, headers=bearer("alice_all"))
    assert clash.status_code == 409 and clash.json()["existingId"] == created["id"]


def test_each_key_keeps_its_own_permissions(alice):
    base = f"{alice.url}/v1/records"
    refused = requests.post(base, json={"type": "t", "name": "n"}, headers=bearer("alice_reader"))
    assert refused.status_code == 403 and "'write'" in refused.json()["error"]
    [acme] = [r for r in requests.get(base, headers=bearer("alice_all")).json()["data"] if r["name"] == "Acme"]
    result_id = requests.get(f"{base}/{acme['id']}/results", headers=bearer("alice_reader")).json()["data"][0]["id"]
    for method, path, body in [
        ("DELETE", f"/{acme['id']}", None),
        ("POST", "/bulk-delete", {"ids": [acme["id"]]}),
        ("DELETE", f"/{acme['id']}/results", {"resultId": result_id}),
    ]:
        for key in ("alice_writer", "alice_reader"):
            answer = requests.request(method, base + path, json=body, headers=bearer(key))
            assert answer.status_code == 403, (method, path, key)
            assert answer.json()["error"] == "This API key does not have the 'delete' permission for records"
    assert requests.put(f"{base}/{acme['id']}", json={"metadata": {"a": 1}}, headers=bearer("alice_writer")).status_code == 200
    assert requests.delete(f"{base}/{acme['id']}/results", json={"resultId": result_id}, headers=bearer("alice_all")).status_code == 200
    assert requests.delete(f"{base}/{acme['id']}", headers=bearer("alice_all")).status_code == 200
    assert names(alice, "alice_reader") == []


def test_both_layers_of_the_sdk_share_a_users_records_and_keep_each_keys_permissions(alice):
    with (RuntypeClient(api_key="alice_writer", base_url=alice.url) as writer,
          RuntypeClient(api_key="alice_reader", base_url=alice.url) as reader,
          RuntypeClient(api_key="bob", base_url=alice.url) as bob):
        made = writer.records.create(type="customer", name="Globex")
        typed = writer.api.records.create_record(type="customer", name="Hooli")
        assert sorted(r.name for r in reader.records.list().data) == ["Acme", "Globex", "Hooli"]
        assert sorted(r.name for r in reader.api.records.list_records().data) == ["Acme", "Globex", "Hooli"]
        assert reader.records.get(made.id).name == "Globex"
        assert reader.api.records.get_record_details(typed.id).name == "Hooli"
        with pytest.raises(NotFoundError):
            bob.records.get(made.id)
        with pytest.raises(TypedNotFoundError):
            bob.api.records.get_record_details(typed.id)
        assert [r.name for r in bob.records.list().data] == ["Initech"]

        with pytest.raises(AuthenticationError) as ergonomic:
            writer.records.delete(made.id)
        assert ergonomic.value.status_code == 403
        with pytest.raises(ForbiddenError):
            writer.api.records.delete_record(made.id)
        with pytest.raises(ForbiddenError):
            writer.api.records.bulk_delete_records(ids=[made.id])
        results = reader.api.records.get_record_results(
            next(r.id for r in reader.records.list().data if r.name == "Acme"))
        with pytest.raises(ForbiddenError):
            writer.api.records.delete_record_result(results.data[0].record_id, result_id=results.data[0].id)
        with pytest.raises(AuthenticationError) as read_only:
            reader.records.create(type="customer", name="Nope")
        assert read_only.value.status_code == 403
    with RuntypeClient(api_key="alice_all", base_url=alice.url) as everything:
        everything.records.delete(made.id)
        assert everything.api.records.bulk_delete_records(ids=[typed.id]).deleted == 1


def test_the_control_api_scopes_to_the_users_data_by_any_of_its_keys(alice):
    base = f"{alice.url}/v1/records"
    requests.post(base, json={"type": "customer", "name": "Globex"}, headers=bearer("alice_writer"))
    requests.get(base, headers=bearer("alice_reader"))
    requests.get(base, headers=bearer("bob"))
    journals = {key: alice.admin("GET", "/requests", params={"tenant": key}).json()["requests"] for key in ("alice_reader", "alice_writer")}
    assert journals["alice_reader"] == journals["alice_writer"]
    assert [(e["method"], e["headers"]["authorization"] != journals["alice_reader"][0]["headers"]["authorization"])
            for e in journals["alice_reader"]] == [("POST", False), ("GET", True)]
    assert alice.admin("GET", "/state", params={"tenant": "alice_reader"}).json() == \
        alice.admin("GET", "/state", params={"tenant": "alice_all"}).json()
    state = alice.admin("GET", "/state", params={"tenant": "alice_writer"}).json()
    assert [t["apiKey"] for t in state["tenants"]] == ["alice_all", "alice_writer", "alice_reader"]
    assert sorted(r["name"] for r in state["records"]) == ["Acme", "Globex"]

    alice.admin("POST", "/clock", params={"tenant": "alice_writer"}, json={"set": "2030-01-01T00:00:00Z"})
    assert alice.admin("GET", "/clock", params={"tenant": "alice_reader"}).json() == {"now": "2030-01-01T00:00:00.000Z", "controlled": True}
    assert alice.admin("GET", "/clock", params={"tenant": "bob"}).json()["controlled"] is False

    alice.admin("POST", "/scenarios", params={"tenant": "alice_reader"},
                json={"name": "down", "when": {"method": "GET"}, "respond": {"status": 503}})
    assert requests.get(base, headers=bearer("alice_all")).status_code == 503
    assert requests.get(base, headers=bearer("bob")).status_code == 200
    [listed] = alice.admin("GET", "/scenarios", params={"tenant": "alice_writer"}).json()["scenarios"]
    assert listed["scopedTo"] == "alice_all"

    assert alice.admin("POST", "/reset", params={"tenant": "alice_reader"}).json() == {"reset": "tenant"}
    assert names(alice, "alice_writer") == ["Acme"]  # back to the fixture, scenario and clock gone
    assert names(alice, "bob") == ["Initech"]
    assert alice.admin("GET", "/requests", params={"tenant": "bob"}).json()["count"] == 3


def test_a_scenario_matching_one_key_of_a_user_applies_to_all_its_keys(alice):
    alice.admin("POST", "/scenarios", json={"name": "slow", "when": {"tenant": "alice_reader"}, "respond": {"status": 500}})
    assert requests.get(f"{alice.url}/v1/records", headers=bearer("alice_writer")).status_code == 500
    assert requests.get(f"{alice.url}/v1/records", headers=bearer("bob")).status_code == 200


def test_a_document_for_one_tenant_may_declare_the_keys_of_its_user_only(own_server):
    server = own_server  # without the response check: a fixture problem's `line` is not in the error schema
    me, mine, other = new_api_key(), new_api_key(), new_api_key()
    user = f"user_{me}"
    document = (f"tenants:\n  - {{apiKey: {me}, organizationId: org_x, userId: {user}}}\n"
                f"  - {{apiKey: {mine}, organizationId: org_x, userId: {user}, permissions: [read]}}\n"
                f"records: [{{type: t, name: seeded}}]\n")
    def load(text: str) -> requests.Response:
        return server.admin("POST", "/fixtures", params={"tenant": me}, data=text, headers={"Content-Type": "application/yaml"})
    assert load(document).status_code == 201
    assert names(server, mine) == ["seeded"]
    refused = load(f"tenants: [{{apiKey: {other}, userId: user_{other}}}]\n")
    assert refused.status_code == 400
    assert "may declare only keys of that tenant's user" in refused.json()["details"][0]["message"]
    assert server.admin("DELETE", "/fixtures", params={"tenant": mine}).json() == {"deleted": 1}
    assert names(server, me) == names(server, mine) == []  # both open-mode keys again, each its own user


def test_open_mode_still_gives_every_unknown_key_a_user_of_its_own(server):
    first, second = new_api_key(), new_api_key()
    made = requests.post(f"{server.url}/v1/records", json={"type": "t", "name": "n"}, headers=bearer(first)).json()
    assert names(server, first) == ["n"] and names(server, second) == []
    assert made["userId"] != requests.post(f"{server.url}/v1/records", json={"type": "t", "name": "n"},
                                           headers=bearer(second)).json()["userId"]
    assert requests.delete(f"{server.url}/v1/records/{made['id']}", headers=bearer(first)).status_code == 200
