"""Locking is per tenant (issue 13): a long write of one tenant holds no other tenant up, while
what spans tenants (a global reset, an export, a fixture load) still sees and makes no change half
done. The long write is held open on an event, so nothing here depends on the clock; a wait that
should end at once gets DEADLINE_S, which only tells a block from a busy machine."""

from __future__ import annotations

import threading

from mock_runtype.model.store import Store
from mock_runtype.model.tenancy import open_tenant
from tests.waiting import DEADLINE_S

A, B = open_tenant("rt_lock_a"), open_tenant("rt_lock_b")


class HeldEdit:
    """Tenant A's bulk metadata edit, stopped inside the store's operation until `finish()`."""

    def __init__(self, store: Store) -> None:
        self.inside, self.release = threading.Event(), threading.Event()

        def change(record):
            self.inside.set()
            assert self.release.wait(DEADLINE_S)
            return {**record.metadata, "edited": True}

        self.thread = threading.Thread(target=store.edit_metadata, args=(A.tenant_key, change))
        self.thread.start()
        assert self.inside.wait(DEADLINE_S)

    def finish(self) -> None:
        self.release.set()
        self.thread.join(DEADLINE_S)


def in_thread(work) -> threading.Thread:
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_a_long_write_of_one_tenant_does_not_hold_up_another():
    """Old: one store-wide lock, so B's create and list waited for A's whole edit (37 s in the issue)."""
    store = Store()
    store.create(A, {"type": "t", "name": "a1"})
    store.create(B, {"type": "t", "name": "b1"})
    edit = HeldEdit(store)
    try:
        done = threading.Event()

        def neighbour():
            store.create(B, {"type": "t", "name": "b2"})
            store.records_of(B.tenant_key)
            store.create(open_tenant("rt_lock_new"), {"type": "t", "name": "c1"})  # a new tenant too
            done.set()

        in_thread(neighbour)
        assert done.wait(DEADLINE_S), "tenant B waited for tenant A's write"
        assert edit.thread.is_alive()
    finally:
        edit.finish()
    assert store.records_of(A.tenant_key)[0].metadata == {"edited": True}


def test_a_change_of_the_whole_store_waits_for_a_tenants_write_and_holds_everyone():
    """A global clear is atomic: it starts only once A's edit ends, and no tenant (B, nor a new
    one) gets in while it runs."""
    store = Store()
    store.create(A, {"type": "t", "name": "a1"})
    store.create(B, {"type": "t", "name": "b1"})
    edit = HeldEdit(store)
    cleared = threading.Event()
    clearing = in_thread(lambda: (store.clear(), cleared.set()))
    assert not cleared.wait(0.2), "the clear ran in the middle of A's edit"
    edit.finish()
    assert cleared.wait(DEADLINE_S)
    clearing.join(DEADLINE_S)
    assert store.count() == 0

    with store.exclusive():
        created = threading.Event()
        creating = in_thread(lambda: (store.create(open_tenant("rt_lock_new"), {"type": "t", "name": "n"}), created.set()))
        store.create(B, {"type": "t", "name": "b-during"})  # the holder itself goes on
        assert not created.wait(0.2), "a new tenant's create ran inside a change of the whole store"
    assert created.wait(DEADLINE_S)
    creating.join(DEADLINE_S)
    assert store.count() == 2


def test_a_tenants_lock_goes_with_its_last_record():
    """A stream of keys that create and delete one record each leaves no lock behind."""
    store = Store()
    for number in range(50):
        tenant = open_tenant(f"rt_lock_churn_{number}")
        record = store.create(tenant, {"type": "t", "name": "n"})
        store.records_of(tenant.tenant_key)
        store.delete(tenant.tenant_key, record.id)
    store.records_of("rt_lock_never_wrote")
    assert store._locks == {}
