"""The official Python SDK (`runtype-sdk`) against the sandbox: both of its layers."""

from __future__ import annotations

import pytest
from runtype import NotFoundError, RuntypeClient
from runtype._generated.errors.conflict_error import ConflictError
from runtype._generated.errors.not_found_error import NotFoundError as TypedNotFoundError
from runtype._generated.errors.bad_request_error import BadRequestError
from runtype import APIError


@pytest.fixture
def client(server, api_key):
    with RuntypeClient(api_key=api_key, base_url=server.url) as client:
        yield client


def test_ergonomic_layer_create_get_update_list_delete(client):
    record = client.records.create(type="customer", name="Acme Corp", metadata={"industry": "tech"})
    assert record.type == "customer" and record.metadata == {"industry": "tech"}
    assert client.records.get(record.id).name == "Acme Corp"

    updated = client.records.update(record.id, metadata={"industry": "retail"})  # sends PATCH
    assert updated.metadata == {"industry": "retail"} and updated.name == "Acme Corp"

    client.records.create(type="customer", name="Globex")
    page = client.records.list(limit=1, sort_by="name", sort_order="asc", include_fields=True)
    assert [r.name for r in page.data] == ["Acme Corp"]
    assert page.pagination.has_more and page.pagination.next_cursor
    assert page.data[0].available_fields == ["industry"]
    rest = client.records.list(limit=1, sort_by="name", sort_order="asc", cursor=page.pagination.next_cursor)
    assert [r.name for r in rest.data] == ["Globex"]
    assert [r.name for r in client.records.list_by_type("customer").data] == ["Globex", "Acme Corp"]

    assert client.records.delete(record.id)["success"] is True
    with pytest.raises(NotFoundError):
        client.records.get(record.id)


def test_ergonomic_layer_duplicate_is_a_409_api_error(client):
    client.records.create(type="customer", name="Dup")
    with pytest.raises(APIError) as caught:
        client.records.create(type="customer", name="Dup")
    assert caught.value.status_code == 409 and "already exists" in caught.value.message


def test_typed_layer_parses_every_response(client):
    api = client.api.records
    created = api.create_record(type="customer", name="Typed", metadata={"a": 1}, owner_id="o1",
                                messages=[{"role": "user", "content": "hi"}])
    assert created.owner_id == "o1" and created.metadata_schema.keys == ["a"]
    assert created.metadata_labels == {}
    fetched = api.get_record_details(created.id)
    assert fetched.id == created.id and fetched.messages == [{"role": "user", "content": "hi"}]
    updated = api.update_record(created.id, name="Typed 2", owner_id=None)
    assert updated.name == "Typed 2" and updated.owner_id is None
    listed = api.list_records(type="customer", include_count="true", include_fields="true", view="compact")
    assert listed.pagination.total_count == 1 and listed.data[0].available_fields == ["a"]
    assert listed.filters_applied == {"type": "customer"}
    api.delete_record(created.id)
    with pytest.raises(TypedNotFoundError):
        api.get_record_details(created.id)


def test_typed_layer_errors(client):
    api = client.api.records
    api.create_record(type="customer", name="Once")
    with pytest.raises(ConflictError) as conflict:  # the typed client retries a 409 unless told not to
        api.create_record(type="customer", name="Once", request_options={"max_retries": 0})
    assert "already exists" in conflict.value.body["error"]
    with pytest.raises(BadRequestError) as bad:
        api.create_record(type="", name="x")
    assert bad.value.body["details"][0]["path"] == "type"


def test_an_update_with_no_field_answers_the_record_on_both_layers(client):
    record = client.records.create(type="customer", name="Untouched", metadata={"a": 1})
    same = client.records.update(record.id)  # PATCH {}
    assert same.name == "Untouched" and same.updated_at == record.updated_at
    typed = client.api.records.update_record(record.id)  # PUT {}
    assert typed.metadata == {"a": 1} and typed.updated_at == record.updated_at
    assert typed.metadata_labels == {}
