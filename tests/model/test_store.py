"""The store on its own: records, uniqueness, indexes, paging, and concurrency."""

from __future__ import annotations

import random
import threading
from dataclasses import replace

import pytest

from mock_runtype.model.clock import Clock, IdSource
from mock_runtype.model.errors import Conflict, InvalidRequest, NotFound, QuotaExceeded
from mock_runtype.model.listing import ListQuery
from mock_runtype.model.store import SORT_KEYS, Store
from mock_runtype.model.tenancy import open_tenant

ACME = open_tenant("rt_test_acme")
GLOBEX = open_tenant("rt_test_globex")


@pytest.fixture
def store() -> Store:
    return Store(Clock(start_ms=1_718_010_930_000), IdSource(seed=7))


def test_create_fills_identity_and_timestamps(store: Store) -> None:
    record = store.create(ACME, {"type": "customer", "name": "Acme Corp", "metadata": {"tier": "gold"}})
    assert record.type == "customer" and record.name == "Acme Corp"
    assert record.metadata == {"tier": "gold"}
    assert record.user_id == ACME.user_id and record.organization_id == ACME.organization_id
    assert record.created_at == record.updated_at == 1_718_010_930_000
    assert store.get(ACME.tenant_key, record.id) == record


def test_seeded_ids_are_a_deterministic_sequence() -> None:
    first = [Store(ids=IdSource(seed=3)).create(ACME, {"type": "t", "name": "n"}).id for _ in range(2)]
    assert first[0] == first[1]
    assert first[0][14] == "4"  # a UUID v4


def test_same_type_and_name_conflicts_within_a_tenant_only(store: Store) -> None:
    store.create(ACME, {"type": "customer", "name": "Acme"})
    with pytest.raises(Conflict):
        store.create(ACME, {"type": "customer", "name": "Acme"})
    store.create(ACME, {"type": "vendor", "name": "Acme"})
    store.create(GLOBEX, {"type": "customer", "name": "Acme"})


def test_other_tenants_records_do_not_exist(store: Store) -> None:
    record = store.create(ACME, {"type": "customer", "name": "Acme"})
    with pytest.raises(NotFound):
        store.get(GLOBEX.tenant_key, record.id)
    with pytest.raises(NotFound):
        store.update(GLOBEX.tenant_key, record.id, {"name": "Stolen"})
    with pytest.raises(NotFound):
        store.delete(GLOBEX.tenant_key, record.id)
    assert store.get(ACME.tenant_key, record.id).name == "Acme"


def test_owner_comes_from_body_then_metadata(store: Store) -> None:
    from_metadata = store.create(ACME, {"type": "t", "name": "a", "metadata": {"ownerId": "u1"}})
    assert from_metadata.owner_id == "u1"
    body_wins = store.create(ACME, {"type": "t", "name": "b", "metadata": {"ownerId": "u1"}, "ownerId": "u2"})
    assert body_wins.owner_id == "u2"
    cleared = store.update(ACME.tenant_key, body_wins.id, {"ownerId": None})
    assert cleared.owner_id is None
    kept = store.update(ACME.tenant_key, from_metadata.id, {"name": "a2"})
    assert kept.owner_id == "u1"


def test_update_is_partial_replaces_metadata_and_moves_updated_at(store: Store) -> None:
    record = store.create(ACME, {"type": "t", "name": "a", "metadata": {"x": 1, "y": 2}})
    updated = store.update(ACME.tenant_key, record.id, {"metadata": {"z": 3}})
    assert updated.metadata == {"z": 3}
    assert updated.name == "a" and updated.type == "t"
    assert updated.updated_at > record.updated_at  # even on a frozen clock
    assert updated.created_at == record.created_at


def test_rename_onto_existing_conflicts(store: Store) -> None:
    store.create(ACME, {"type": "t", "name": "taken"})
    record = store.create(ACME, {"type": "t", "name": "free"})
    with pytest.raises(Conflict):
        store.update(ACME.tenant_key, record.id, {"name": "taken"})
    assert store.get(ACME.tenant_key, record.id).name == "free"
    renamed = store.update(ACME.tenant_key, record.id, {"name": "free"})  # onto itself is fine
    assert store.find_by_name(ACME.tenant_key, "t", "free") == renamed


def test_an_update_with_no_field_changes_nothing(store: Store) -> None:
    record = store.create(ACME, {"type": "t", "name": "a", "metadata": {"x": 1}})
    assert store.update(ACME.tenant_key, record.id, {}) == record  # updatedAt too
    with pytest.raises(NotFound):
        store.update(GLOBEX.tenant_key, record.id, {})


def test_delete_frees_the_name_and_a_second_delete_is_not_found(store: Store) -> None:
    record = store.create(ACME, {"type": "t", "name": "a"})
    store.delete(ACME.tenant_key, record.id)
    with pytest.raises(NotFound):
        store.delete(ACME.tenant_key, record.id)
    store.create(ACME, {"type": "t", "name": "a"})


def _walk_all(store: Store, tenant: str, query: ListQuery) -> list[str]:
    seen, cursor = [], None
    while True:
        query.cursor = cursor
        page = store.list(tenant, query)
        seen += [r.name for r in page.records]
        if not page.has_more:
            return seen
        cursor = store.cursors.encode(page.next_position, query.fingerprint(tenant))


def test_cursor_walk_returns_every_record_once_newest_first(store: Store) -> None:
    for i in range(45):
        store.create(ACME, {"type": "t", "name": f"r{i:02d}"})
    names = _walk_all(store, ACME.tenant_key, ListQuery(limit=10))
    assert names == [f"r{i:02d}" for i in reversed(range(45))]


def test_listing_by_type_name_order_and_filters(store: Store) -> None:
    for name in ["b", "a", "c"]:
        store.create(ACME, {"type": "letter", "name": name, "metadata": {"n": name}})
    store.create(ACME, {"type": "other", "name": "z"})
    page = store.list(ACME.tenant_key, ListQuery(type="letter", sort_by="name", descending=False, include_count=True))
    assert [r.name for r in page.records] == ["a", "b", "c"]
    assert page.total == 3
    only_b = store.list(ACME.tenant_key, ListQuery(search="B"))
    assert [r.name for r in only_b.records] == ["b"]


def test_previous_page_mirrors_next(store: Store) -> None:
    for i in range(25):
        store.create(ACME, {"type": "t", "name": f"r{i:02d}"})
    query = ListQuery(limit=10)
    first = store.list(ACME.tenant_key, query)
    fp = query.fingerprint(ACME.tenant_key)
    second = store.list(ACME.tenant_key, ListQuery(limit=10, cursor=store.cursors.encode(first.next_position, fp)))
    assert second.offset == 10 and second.has_prev
    back = store.list(ACME.tenant_key, ListQuery(limit=10, backward=True, cursor=store.cursors.encode(second.prev_position, fp)))
    assert [r.id for r in back.records] == [r.id for r in first.records]
    assert back.offset == 0 and not back.has_prev and back.has_more


def test_cursor_of_another_tenant_or_query_is_rejected(store: Store) -> None:
    for i in range(3):
        store.create(ACME, {"type": "t", "name": f"r{i}"})
    query = ListQuery(limit=1)
    page = store.list(ACME.tenant_key, query)
    cursor = store.cursors.encode(page.next_position, query.fingerprint(ACME.tenant_key))
    with pytest.raises(InvalidRequest):
        store.list(GLOBEX.tenant_key, ListQuery(limit=1, cursor=cursor))
    with pytest.raises(InvalidRequest):
        store.list(ACME.tenant_key, ListQuery(limit=1, cursor=cursor, type="t"))
    with pytest.raises(InvalidRequest):
        store.cursors.decode("not-a-cursor", query.fingerprint(ACME.tenant_key))


def test_parallel_creates_of_one_name_give_exactly_one_record(store: Store) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(32)

    def create() -> None:
        barrier.wait()
        try:
            store.create(ACME, {"type": "t", "name": "contended"})
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=create) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("created") == 1 and outcomes.count("conflict") == 31
    assert len(store.records_of(ACME.tenant_key)) == 1


def test_parallel_updates_lose_nothing(store: Store) -> None:
    records = [store.create(ACME, {"type": "t", "name": f"r{i}"}) for i in range(16)]

    def rename(index: int) -> None:
        for round_ in range(50):
            store.update(ACME.tenant_key, records[index].id, {"metadata": {"round": round_}})

    threads = [threading.Thread(target=rename, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(store.get(ACME.tenant_key, r.id).metadata == {"round": 49} for r in records)
    assert len(store.records_of(ACME.tenant_key)) == 16


def test_of_type_reads_one_type_newest_first(store: Store) -> None:
    for name in ("a", "b"):
        store.create(ACME, {"type": "customer", "name": name})
        store.clock.advance(1)
    store.create(ACME, {"type": "vendor", "name": "v"})
    assert [r.name for r in store.of_type(ACME.tenant_key, "customer")] == ["b", "a"]
    assert store.of_type(GLOBEX.tenant_key, "customer") == []


def test_removals_are_announced_to_listeners(store: Store) -> None:
    heard: list[tuple] = []
    store.on_removal(lambda tenant, ids: heard.append((tenant, ids)))
    first, second = (store.create(ACME, {"type": "t", "name": n}).id for n in ("a", "b"))
    store.delete(ACME.tenant_key, first)
    assert store.delete_many(ACME.tenant_key, [second, "missing"]) == ([second], ["missing"])
    store.clear(ACME.tenant_key)
    store.clear()
    assert heard == [(ACME.tenant_key, [first]), (ACME.tenant_key, [second]), (ACME.tenant_key, None), (None, None)]


def test_edit_metadata_is_all_or_nothing(store: Store) -> None:
    ids = [store.create(ACME, {"type": "t", "name": n, "metadata": {"n": i}}).id for i, n in enumerate("abc")]

    def change(record):
        if record.metadata["n"] == 0:
            raise InvalidRequest("no")
        return {**record.metadata, "seen": True}

    with pytest.raises(InvalidRequest):  # newest first: "c" and "b" are computed before "a" fails
        store.edit_metadata(ACME.tenant_key, change, record_type="t")
    assert all("seen" not in store.get(ACME.tenant_key, i).metadata for i in ids)
    edits = store.edit_metadata(ACME.tenant_key, change, record_ids=[ids[1], "missing"])
    assert [e.after.metadata for e in edits] == [{"n": 1, "seen": True}] and edits[0].changed


def test_an_edit_by_ids_answers_in_the_order_of_the_ids(store: Store) -> None:
    first, second = (store.create(ACME, {"type": "t", "name": name}) for name in ("first", "second"))
    edits = store.edit_metadata(ACME.tenant_key, lambda r: {"seen": True}, record_ids=[first.id, "unknown", second.id])
    assert [e.before.id for e in edits] == [first.id, second.id]
    assert all(e.changed for e in edits)


def test_a_seeded_id_already_taken_by_a_loaded_record_is_drawn_again() -> None:
    store = Store(ids=IdSource(seed=3))
    next_in_sequence = IdSource(seed=3).new_id(ACME.tenant_key)
    loaded = store.create(ACME, {"type": "t", "name": "from an exported state"}, record_id=next_in_sequence)
    created = store.create(ACME, {"type": "t", "name": "new"})
    assert created.id != loaded.id
    assert store.get(ACME.tenant_key, loaded.id).name == "from an exported state"
    assert store.find_by_name(ACME.tenant_key, "t", "new") == created
    assert [r.name for r in store.records_of(ACME.tenant_key)] == ["from an exported state", "new"]


def test_indexes_agree_after_any_mix_of_changes() -> None:
    """Random creates, renames, retypes, deletes, bulk edits and clears on a moving clock, under caps:
    after each, every index holds exactly the records by id, in order, and the caps hold."""
    rng = random.Random(5)
    clock = Clock(start_ms=1_000)
    store = Store(clock, IdSource(seed=1), max_records_per_tenant=30, max_tenants=2)
    tenants = [open_tenant(key) for key in ("a", "b", "c")]
    for _ in range(3000):
        tenant = rng.choice(tenants)
        ids = [r.id for r in store.records_of(tenant.tenant_key)]
        clock.advance(rng.choice([0, 0, 1, 5]))
        action = rng.random()
        try:
            if action < 0.4:
                store.create(tenant, {"type": rng.choice("xyz"), "name": str(rng.randrange(20))})
            elif action < 0.6 and ids:
                changes = {key: value for key, value in (("type", rng.choice("xyz")), ("name", str(rng.randrange(20))))
                           if rng.random() < 0.5}
                store.update(tenant.tenant_key, rng.choice(ids), {**changes, "metadata": {"k": rng.randrange(3)}})
            elif action < 0.7 and ids:
                store.delete(tenant.tenant_key, rng.choice(ids))
            elif action < 0.8:
                store.delete_many(tenant.tenant_key, [*rng.sample(ids, min(len(ids), 3)), "unknown"])
            elif action < 0.95:
                store.edit_metadata(tenant.tenant_key, lambda r: {"k": rng.randrange(3)}, record_type=rng.choice([None, "x"]))
            else:
                store.clear(tenant.tenant_key)
        except (Conflict, QuotaExceeded):
            pass
        _assert_indexes_agree(store)


def _assert_indexes_agree(store: Store) -> None:
    holding = 0
    for tenant_key in ("a", "b", "c"):
        records = {r.id: r for r in store.records_of(tenant_key)}
        holding += bool(records)
        assert len(records) <= 30
        for record in records.values():
            assert store.get(tenant_key, record.id) is record
            assert store.find_by_name(tenant_key, record.type, record.name) is record
        for sort_by in SORT_KEYS:
            for record_type in (None, "x", "y", "z"):
                listed = store.matching(tenant_key, ListQuery(type=record_type, sort_by=sort_by, descending=False))
                expected = sorted((r for r in records.values() if record_type in (None, r.type)), key=SORT_KEYS[sort_by])
                assert listed == expected
    assert holding <= 2


class _Seed:
    """What `create_many` reads of a seed (a fixture's SeedRecord has the same attributes)."""

    def __init__(self, fields, id=None, created_at=None, updated_at=None, size=None):
        self.fields, self.id, self.created_at, self.updated_at = fields, id, created_at, updated_at
        self.product_surface_id, self.size = None, size


def _seeds(count: int, start: int = 0) -> list[_Seed]:
    """Records with ties in every order: three times, names repeated across types, updates before creates."""
    return [_Seed({"type": f"t{n % 3}", "name": f"n{n // 3 % 5}-{n}" if n % 4 else f"same{n % 3}x{n // 12}",
                   "metadata": {"n": n}, "ownerId": "o" if n % 2 else None},
                  id=f"id-{n}", created_at=1_000 + n % 3, updated_at=1_000 + n % 3 + n % 2)
            for n in range(start, start + count)]


def _all_pages(store: Store, tenant_key: str, **query) -> list[tuple[list[str], int, str | None]]:
    """Every page of a listing, walked by its next cursors: each page's ids, offset and next cursor."""
    first = ListQuery(limit=7, include_count=True, **query)
    pages, cursor = [], None
    while True:
        page = store.list(tenant_key, replace(first, cursor=cursor))
        cursor = store.cursors.encode(page.next_position, first.fingerprint(tenant_key)) if page.next_position else None
        pages.append(([r.id for r in page.records], page.offset, cursor))
        if cursor is None:
            return pages


@pytest.mark.parametrize("held, count", [(60, 200), (0, 200), (0, 2500)],
                         ids=["merged into a tenant's records", "a tenant's first", "past a sorted list's sublist"])
def test_create_many_stores_what_one_create_each_would_in_every_order(held: int, count: int) -> None:
    one_by_one, bulk = Store(ids=IdSource(seed=1)), Store(ids=IdSource(seed=1))
    seeds = _seeds(count)
    for seed in seeds[:held]:  # a tenant already holding records: the batch merges into its indexes
        for store in (one_by_one, bulk):
            store.create(ACME, seed.fields, record_id=seed.id, created_at=seed.created_at,
                         updated_at=seed.updated_at, capped=False, checked=True)
    for seed in seeds[held:]:
        one_by_one.create(ACME, seed.fields, record_id=seed.id, created_at=seed.created_at,
                          updated_at=seed.updated_at, capped=False, checked=True)
    bulk.create_many(ACME, seeds[held:])
    assert bulk.records_of(ACME.tenant_key) == one_by_one.records_of(ACME.tenant_key)
    data = bulk._tenants[ACME.tenant_key]
    for index in (data.all, *data.by_type.values()):
        for order in index.orders.values():
            order._check()  # sortedcontainers' own check of its sublists, keys and maxima
    for sort_by in SORT_KEYS:
        for order in ("asc", "desc"):
            for record_type in (None, "t1"):
                query = {"sort_by": sort_by, "descending": order == "desc", "type": record_type}
                assert _all_pages(bulk, ACME.tenant_key, **query) == _all_pages(one_by_one, ACME.tenant_key, **query)
    assert bulk.size(ACME.tenant_key) == one_by_one.size(ACME.tenant_key)
    assert bulk.find_by_name(ACME.tenant_key, "t1", seeds[199].fields["name"]).id == "id-199"
    assert bulk.of_type(ACME.tenant_key, "t2") == one_by_one.of_type(ACME.tenant_key, "t2")
    later = _seeds(3, start=count)  # the indexes a batch filled take single records as any others
    for store in (one_by_one, bulk):
        store.create(ACME, later[0].fields, record_id=later[0].id, created_at=later[0].created_at, capped=False)
        store.delete(ACME.tenant_key, "id-5")
    assert _all_pages(bulk, ACME.tenant_key, sort_by="name") == _all_pages(one_by_one, ACME.tenant_key, sort_by="name")


@pytest.mark.parametrize("clash", ["a held name", "a held id", "a name twice in the batch", "an id twice in the batch"])
def test_create_many_stores_nothing_when_a_seed_clashes(store: Store, clash: str) -> None:
    held = store.create(ACME, {"type": "t", "name": "held"})
    seeds = [_Seed({"type": "t", "name": f"new{n}"}, id=f"new-{n}") for n in range(3)]
    if clash == "a held name":
        seeds.append(_Seed({"type": "t", "name": "held"}))
    elif clash == "a held id":
        seeds.append(_Seed({"type": "t", "name": "other"}, id=held.id))
    elif clash == "a name twice in the batch":
        seeds.append(_Seed({"type": "t", "name": "new1"}))
    else:
        seeds.append(_Seed({"type": "t", "name": "other"}, id="new-1"))
    with pytest.raises(Conflict):
        store.create_many(ACME, seeds)
    assert store.records_of(ACME.tenant_key) == [held]
    assert store.find_by_name(ACME.tenant_key, "t", "new0") is None
    with pytest.raises(Conflict):
        store.create_many(GLOBEX, [_Seed({"type": "t", "name": "x"}), _Seed({"type": "t", "name": "x"})])
    assert store.tenant_keys() == [ACME.tenant_key]


def test_create_many_leaves_open_ids_and_times_to_the_store_and_reckons_sizes(store: Store) -> None:
    [record] = store.create_many(GLOBEX, [_Seed({"type": "t", "name": "n", "metadata": {"é": 1}})])
    assert record.created_at == record.updated_at == 1_718_010_930_000
    assert record.id and record.size == len('{"é":1}'.encode())
    assert store.get(GLOBEX.tenant_key, record.id) == record
