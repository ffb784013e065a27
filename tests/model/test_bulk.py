"""Bulk delete and bulk edit over the store: selectors, dry runs, all-or-nothing, updatedAt."""

from __future__ import annotations

import pytest

from mock_runtype.model.bulk import bulk_delete, bulk_edit, parse_bulk_edit
from mock_runtype.model.clock import Clock, IdSource
from mock_runtype.model.errors import InvalidRequest, Unprocessable
from mock_runtype.model.records import MAX_METADATA_BYTES
from mock_runtype.model.store import Store
from mock_runtype.model.tenancy import open_tenant
from mock_runtype.model.validation import validate

ACME = open_tenant("rt_test_acme")
GLOBEX = open_tenant("rt_test_globex")


@pytest.fixture
def store() -> Store:
    store = Store(Clock(start_ms=1_718_010_930_000), IdSource(seed=3))
    for name, tier in [("a", "gold"), ("b", "silver"), ("c", "gold")]:
        store.create(ACME, {"type": "customer", "name": name, "metadata": {"tier": tier, "old": 1}})
    store.create(ACME, {"type": "vendor", "name": "v", "metadata": {"tier": "gold"}})
    store.clock.advance(1000)
    return store


def by_name(store: Store) -> dict[str, object]:
    return {r.name: r for r in store.records_of(ACME.tenant_key)}


def test_bulk_delete_reports_found_and_not_found(store: Store) -> None:
    ids = [r.id for r in store.records_of(ACME.tenant_key)][:2]
    other = store.create(GLOBEX, {"type": "customer", "name": "theirs"}).id
    answer = bulk_delete(store, ACME.tenant_key, {"ids": [*ids, other, ids[0]]})
    assert answer == {"success": True, "deleted": 2, "deletedIds": ids, "notFoundIds": [other]}
    assert store.get(GLOBEX.tenant_key, other)


@pytest.mark.parametrize("body", [
    {"updates": {"x": 1}},
    {"applyToAll": True, "recordIds": ["x"], "updates": {"x": 1}},
    {"applyToAll": False, "updates": {"x": 1}},
    {"applyToAll": True},
    {"conditions": [{"field": "tier", "operator": "like", "value": "g"}], "updates": {"x": 1}},
])
def test_a_bad_bulk_edit_is_a_400(body) -> None:
    """Its schema refuses some (no selector or several, no change), the parser the rest."""
    with pytest.raises(InvalidRequest):
        validate("bulk-edit", body)
        parse_bulk_edit(body)


def test_a_key_both_removed_and_set_ends_up_set(store: Store) -> None:
    """Removals come first: the document cannot tie deleteFields to the keys of updates, so both hold."""
    edit = parse_bulk_edit({"applyToAll": True, "updates": {"old": 2}, "deleteFields": ["old", "tier"]})
    assert {d["after"]["old"] for d in bulk_edit(store, ACME.tenant_key, edit)["data"] if "old" in d["after"]} == {2}
    assert all("tier" not in record.metadata for record in store.records_of(ACME.tenant_key))


def test_filter_selects_within_its_type_and_only_changed_records_move(store: Store) -> None:
    edit = parse_bulk_edit({"recordFilter": {"type": "customer", "where": {"field": "tier", "op": "eq", "value": "gold"}},
                            "updates": {"tier": "gold", "flag": True}, "deleteFields": ["old"]})
    answer = bulk_edit(store, ACME.tenant_key, edit)
    assert [d["before"] for d in answer["data"]] == [{"tier": "gold", "old": 1}] * 2
    assert [d["after"] for d in answer["data"]] == [{"tier": "gold", "flag": True}] * 2
    records = by_name(store)
    assert records["a"].updated_at == records["c"].updated_at == 1_718_010_931_000
    assert records["b"].updated_at == records["v"].updated_at == 1_718_010_930_000
    assert records["v"].metadata == {"tier": "gold"}  # another type: not scanned, not touched

    again = bulk_edit(store, ACME.tenant_key, parse_bulk_edit({"conditions": [
        {"field": "tier", "operator": "equals_ci", "value": "GOLD"}], "updates": {"flag": True}}))
    assert len(again["data"]) == 3 and again["recordIds"] == [records["v"].id]


def test_dry_run_changes_nothing(store: Store) -> None:
    before = by_name(store)
    answer = bulk_edit(store, ACME.tenant_key, parse_bulk_edit({"applyToAll": True, "updates": {"x": 1}, "dryRun": True}))
    assert len(answer["recordIds"]) == 4 and all(d["after"]["x"] == 1 for d in answer["data"])
    assert by_name(store) == before


def test_an_edit_that_fails_half_way_changes_nothing(store: Store) -> None:
    big = store.create(ACME, {"type": "customer", "name": "big", "metadata": {"blob": "x" * (MAX_METADATA_BYTES - 200_000)}})
    before = by_name(store)
    edit = parse_bulk_edit({"recordFilter": {"type": "customer"}, "updates": {"note": "y" * 300_000}})
    with pytest.raises(Unprocessable) as caught:
        bulk_edit(store, ACME.tenant_key, edit)
    assert caught.value.extra["recordId"] == big.id
    assert by_name(store) == before  # the records edited before the failing one were not kept either


def test_owner_follows_an_ownerId_the_edit_sets(store: Store) -> None:
    bulk_edit(store, ACME.tenant_key, parse_bulk_edit({"recordIds": [by_name(store)["a"].id], "updates": {"ownerId": "u9"}}))
    assert by_name(store)["a"].owner_id == "u9"
