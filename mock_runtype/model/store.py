"""The records of every tenant, in memory, with the indexes that keep lookups from scanning.

Per tenant: records by id, ids by (type, name), and for all records and for each type the
records sorted by createdAt, updatedAt and name (ties broken by the tenant's own insertion order,
so that nothing a tenant sees, cursors included, counts another's records). Records are
immutable: an update replaces the stored Record.

Locking is per tenant: each operation holds its tenant's lock, so a long write of one tenant (a
bulk edit over 10,000 records, say) never makes another wait. What spans tenants (a global reset,
a state export, a fixture load) takes `exclusive()`: the guard that creates tenant locks, then
every tenant's lock in a fixed order (their keys sorted), so no two of them deadlock and no
request sees such a change half done. A tenant's lock goes when released with the tenant's last
record gone; a thread that waited on a lock gone checks, once it has it, that it is still the
tenant's, and tries again.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Protocol

from sortedcontainers import SortedKeyList

from mock_runtype.model.clock import LAST_MS, Clock, IdSource
from mock_runtype.model.errors import Conflict, InvalidRequest, NotFound, QuotaExceeded
from mock_runtype.model.pacing import paced
from mock_runtype.model.listing import CursorPosition, CursorSigner, ListQuery, keep_distinct
from mock_runtype.model.records import Record, check_metadata_size, check_nesting, metadata_size, new_record
from mock_runtype.model.tenancy import Tenant

SORT_KEYS: dict[str, Callable[[Record], tuple]] = {  # attrgetter: the tuple made in C, six per create
    "createdAt": attrgetter("created_at", "seq"),
    "updatedAt": attrgetter("updated_at", "seq"),
    "name": attrgetter("name", "seq"),
}
_KEY_TYPES = {"createdAt": int, "updatedAt": int, "name": str}
UPDATABLE_FIELDS = ("type", "name", "metadata", "messages", "ownerId")
RemovalListener = Callable[[Optional[str], Optional[List[str]]], None]


@dataclass
class Page:
    """One page of a listing, with the positions that the next and previous cursors name."""

    records: list[Record]
    offset: int
    has_more: bool
    has_prev: bool
    next_position: CursorPosition | None
    prev_position: CursorPosition | None
    total: int | None


@dataclass(frozen=True)
class MetadataEdit:
    """One record's metadata edit: the record before and after (the same when nothing changes)."""

    before: Record
    after: Record

    @property
    def changed(self) -> bool:
        return self.after is not self.before


class _SortedRecords(SortedKeyList):
    """Records in one order, which an empty list can take already sorted, with their keys."""

    def fill(self, records: list[Record], keys: list[tuple]) -> None:
        """Hold `records`, which are in this list's order and whose keys are `keys`, this list
        being empty: what `update(records)` makes (the same sublists of keys and records, and
        maxima), without sorting them again or reckoning each key twice, as it does. The same
        key tuples can then serve the tenant's index and its type's."""
        load = self._load
        self._lists.extend(records[at:at + load] for at in range(0, len(records), load))
        self._keys.extend(keys[at:at + load] for at in range(0, len(keys), load))
        self._maxes.extend(sublist[-1] for sublist in self._keys)
        self._len = len(records)
        del self._index[:]


class _Index:
    """A set of records kept in every sort order the list endpoint offers."""

    def __init__(self) -> None:
        self.orders = {name: _SortedRecords(key=key) for name, key in SORT_KEYS.items()}

    def add(self, record: Record) -> None:
        for order in self.orders.values():
            order.add(record)

    def remove(self, record: Record) -> None:
        for order in self.orders.values():
            order.remove(record)

    def add_many(self, records: list[Record]) -> None:
        """Add records in one sort per order (a batch as large as the index, or larger, is merged
        by one sort; an insert each would search and shift every list once per record)."""
        for order in self.orders.values():
            order.update(records)

    def __len__(self) -> int:
        return len(self.orders["createdAt"])


class _TenantData:
    def __init__(self) -> None:
        self.by_id: dict[str, Record] = {}
        self.by_type_name: dict[tuple[str, str], str] = {}
        self.all = _Index()
        self.by_type: dict[str, _Index] = {}
        self.seq = 0  # the tenant's own insertion counter: the tie-breaker of every order
        self.size = 0  # bytes of all its records' metadata (what a scan of them all reads)

    def add(self, record: Record) -> None:
        self.by_id[record.id] = record
        self.size += record.size
        self.by_type_name[(record.type, record.name)] = record.id
        self.all.add(record)
        index = self.by_type.get(record.type)
        if index is None:  # not setdefault: an _Index is three sorted lists, too dear to build and drop
            index = self.by_type[record.type] = _Index()
        index.add(record)

    def add_many(self, records: list[Record], by_id: dict[str, Record], by_type_name: dict[tuple[str, str], str]) -> None:
        """`add` of each record, in order, with each index built once (a fixture's load). `by_id`
        and `by_type_name` are the records' own: an empty tenant takes them as its dicts (no
        second copy of a 100k-entry dict whose memory the allocator would keep)."""
        self.size += sum(record.size for record in records)
        if not self.by_id:
            self.by_id, self.by_type_name = by_id, by_type_name
            self._fill(records)
            return
        self.by_id.update(by_id)
        self.by_type_name.update(by_type_name)
        groups: dict[str, list[Record]] = {}
        for record in records:
            group = groups.get(record.type)
            if group is None:
                group = groups[record.type] = []
            group.append(record)
        self.all.add_many(records)
        for record_type, group in groups.items():
            index = self.by_type.get(record_type)
            if index is None:
                index = self.by_type[record_type] = _Index()
            index.add_many(group)

    def _fill(self, records: list[Record]) -> None:
        """Index the records of a tenant that had none: each order sorted once, its keys reckoned
        once and shared by the tenant's index and its types' (each type's records in that order
        as they come out of the tenant's)."""
        for name, key in SORT_KEYS.items():
            keys = list(map(key, records))
            positions = sorted(range(len(records)), key=keys.__getitem__)
            ordered, ordered_keys = [records[at] for at in positions], [keys[at] for at in positions]
            self.all.orders[name].fill(ordered, ordered_keys)
            groups: dict[str, tuple[list[Record], list[tuple]]] = {}
            for record, record_key in zip(ordered, ordered_keys):
                group = groups.get(record.type)
                if group is None:
                    group = groups[record.type] = ([], [])
                group[0].append(record)
                group[1].append(record_key)
            for record_type, (group_records, group_keys) in groups.items():
                index = self.by_type.get(record_type)
                if index is None:
                    index = self.by_type[record_type] = _Index()
                index.orders[name].fill(group_records, group_keys)

    def remove(self, record: Record) -> None:
        del self.by_id[record.id]
        self.size -= record.size
        del self.by_type_name[(record.type, record.name)]
        self.all.remove(record)
        index = self.by_type[record.type]
        index.remove(record)
        if not len(index):
            del self.by_type[record.type]


class Seed(Protocol):
    """A record to store as it is given (a fixture's, whose rules checked it): the fields `create`
    takes, the id and times it fixes (None: left to the store) and its metadata's size (None:
    reckoned here)."""

    fields: Mapping[str, Any]
    id: str | None
    created_at: int | None
    updated_at: int | None
    product_surface_id: str | None
    size: int | None


def owner_from(fields: Mapping[str, Any], metadata: Mapping[str, Any] | None) -> tuple[bool, str | None]:
    """The owner a body sets: its `ownerId` if present (null clears), else a string
    `metadata.ownerId`. Returns (whether the body sets one, the owner)."""
    if "ownerId" in fields:
        return True, fields["ownerId"]
    if metadata is not None and isinstance(metadata.get("ownerId"), str):
        return True, metadata["ownerId"]
    return False, None


class Store:
    """Every tenant's records. Methods take the tenant's API key (its data partition)."""

    def __init__(self, clock: Clock | None = None, ids: IdSource | None = None, *,
                 max_records_per_tenant: int | None = None, max_tenants: int | None = None) -> None:
        """The caps protect the host: a create beyond them is a 403 (None: no cap)."""
        self.clock = clock or Clock()
        self.ids = ids or IdSource()
        self.max_records_per_tenant = max_records_per_tenant
        self.max_tenants = max_tenants
        self._guard = threading.RLock()  # creating tenant locks; held by `exclusive()` throughout
        self._locks: dict[str, threading.RLock] = {}  # the lock of each tenant holding records
        self._admission = threading.Lock()  # a new tenant's check against the tenant cap, and its arrival
        self._local = threading.local()
        self._tenants: dict[str, _TenantData] = {}
        self.cursors = CursorSigner(lambda: self.ids.seed)
        self._removal_listeners: list[RemovalListener] = []

    @contextmanager
    def exclusive(self, tenant_key: str | None = None) -> Iterator[None]:
        """For a batch of changes no request may see half done (`with store.exclusive():`): of one
        tenant when named (its lock alone), else of the whole store (every tenant's lock, and
        those of tenants the batch makes, until it ends)."""
        if tenant_key is not None:
            with self._locked(tenant_key):
                yield
            return
        state = self._thread_state()
        if state.whole is not None:
            yield
            return
        with self._guard, ExitStack() as whole:
            state.whole = whole
            whole.callback(setattr, state, "whole", None)
            for key in sorted(self._locks):
                self._hold(key, state)
            yield

    @contextmanager
    def _locked(self, tenant_key: str) -> Iterator[None]:
        """The tenant's lock for the block (again held by a thread that holds it already)."""
        state = self._thread_state()
        if tenant_key in state.held:
            yield
            return
        lock = self._hold(tenant_key, state)
        if state.whole is not None:  # inside `exclusive()`: released when it ends
            yield
            return
        try:
            yield
        finally:
            self._release(tenant_key, lock, state)

    def _hold(self, tenant_key: str, state: threading.local) -> threading.RLock:
        """Acquire the tenant's lock, made on first use (not while an `exclusive()` of the whole
        store runs in another thread)."""
        while True:
            lock = self._locks.get(tenant_key)
            if lock is None:
                with self._guard:
                    lock = self._locks.setdefault(tenant_key, threading.RLock())
            lock.acquire()
            if self._locks.get(tenant_key) is lock:
                break
            lock.release()  # the tenant emptied (and its lock went) while this thread waited
        state.held.add(tenant_key)
        if state.whole is not None:
            state.whole.callback(self._release, tenant_key, lock, state)
        return lock

    def _release(self, tenant_key: str, lock: threading.RLock, state: threading.local) -> None:
        """Let the lock go; with the tenant's last record gone, the lock goes too."""
        state.held.discard(tenant_key)
        if tenant_key not in self._tenants and self._locks.get(tenant_key) is lock:
            del self._locks[tenant_key]
        lock.release()

    def _thread_state(self) -> threading.local:
        """What this thread holds: tenant keys (`held`), and the whole store's `exclusive()`."""
        state = self._local
        if not hasattr(state, "held"):
            state.held, state.whole = set(), None
        return state

    def on_removal(self, listener: RemovalListener) -> None:
        """Call `listener(tenant_key, record_ids)` (under the store's lock) after records go.

        `record_ids` is None when a whole tenant went; both are None when everything went.
        """
        self._removal_listeners.append(listener)

    def _removed(self, tenant_key: str | None, record_ids: list[str] | None) -> None:
        for listener in self._removal_listeners:
            listener(tenant_key, record_ids)

    # -- single records -------------------------------------------------------------------

    def create(
        self,
        tenant: Tenant,
        fields: Mapping[str, Any],
        *,
        record_id: str | None = None,
        created_at: int | None = None,
        updated_at: int | None = None,
        product_surface_id: str | None = None,
        capped: bool = True,
        checked: bool = False,
    ) -> Record:
        """Store a new record from validated `fields` (type, name, metadata, messages, ownerId).

        409 if the tenant has a record of that type and name, or one with `record_id`; 403 if the
        tenant is at its record cap, or is new while the server is at its tenant cap (unless not
        `capped`: fixtures, which the operator chose, load whole). `checked`: the fields' nesting
        and size were checked already, with the caller's own wording (a fixture's, per record).
        """
        if not checked:
            check_nesting(fields)
        metadata = dict(fields.get("metadata") or {})
        size = metadata_size(metadata) if checked else check_metadata_size(metadata, "the record's")
        _, owner = owner_from(fields, metadata)
        with self._locked(tenant.tenant_key):
            data = self._tenants.get(tenant.tenant_key)
            if capped:
                self._check_record_quota(data)
            if data is None:
                with self._admission:
                    if capped:
                        self._check_tenant_quota()
                    data = self._tenants[tenant.tenant_key] = _TenantData()
            self._check_free(data, fields["type"], fields["name"])
            if record_id is not None and record_id in data.by_id:
                raise Conflict(f"A record with id '{record_id}' already exists")
            while record_id is None or record_id in data.by_id:  # a seeded sequence repeats the ids a loaded state holds
                record_id = self.ids.new_id(tenant.tenant_key)
            now = self.clock.now_ms(tenant.tenant_key)
            created = now if created_at is None else created_at
            data.seq += 1
            record = Record(
                id=record_id,
                seq=data.seq,
                tenant_key=tenant.tenant_key,
                user_id=tenant.user_id,
                organization_id=tenant.organization_id,
                type=fields["type"],
                name=fields["name"],
                metadata=metadata,
                messages=fields.get("messages"),
                owner_id=owner,
                product_surface_id=product_surface_id,
                created_at=created,
                updated_at=created if updated_at is None else updated_at,
                size=size,
            )
            data.add(record)
            return record

    def create_many(self, tenant: Tenant, seeds: Iterable[Seed]) -> list[Record]:
        """Store the seeds as new records of the tenant: what `create(..., capped=False,
        checked=True)` of each in turn would store (the same ids, seqs and so orders and cursors),
        with each index sorted once for the batch rather than searched once per record. 409, with
        `create`'s words, and nothing stored, if a seed's type and name or id is taken (by the
        tenant or an earlier seed). Uncapped, as fixtures are: the operator chose them. A seed's
        metadata is stored as it is, not copied: nothing changes a record's metadata in place (an
        update stores new metadata), nor a seed's, so the two can share it."""
        tenant_key = tenant.tenant_key
        with self._locked(tenant_key):
            data = self._tenants.get(tenant_key) or _TenantData()
            names, ids = data.by_type_name, data.by_id
            new_names: dict[tuple[str, str], str] = {}
            new_ids: dict[str, Record] = {}
            records: list[Record] = []
            seq, now = data.seq, None
            user_id, organization_id, new_id = tenant.user_id, tenant.organization_id, self.ids.new_id
            for seed in seeds:
                fields = seed.fields
                type_name = (fields["type"], fields["name"])
                if type_name in names or type_name in new_names:
                    raise Conflict(
                        f"A record of type '{_shorten(type_name[0])}' named '{_shorten(type_name[1])}' already exists",
                        existingId=names.get(type_name) or new_names[type_name],
                    )
                record_id = seed.id
                if record_id is not None and (record_id in ids or record_id in new_ids):
                    raise Conflict(f"A record with id '{record_id}' already exists")
                while record_id is None or record_id in ids or record_id in new_ids:
                    record_id = new_id(tenant_key)
                created = seed.created_at
                if created is None:
                    created = now = self.clock.now_ms(tenant_key) if now is None else now
                metadata = fields.get("metadata") or {}
                seq += 1
                record = new_record(
                    id=record_id,
                    seq=seq,
                    tenant_key=tenant_key,
                    user_id=user_id,
                    organization_id=organization_id,
                    type=type_name[0],
                    name=type_name[1],
                    metadata=metadata,
                    messages=fields.get("messages"),
                    owner_id=owner_from(fields, metadata)[1],
                    product_surface_id=seed.product_surface_id,
                    created_at=created,
                    updated_at=created if seed.updated_at is None else seed.updated_at,
                    size=metadata_size(metadata) if seed.size is None else seed.size,
                )
                records.append(record)
                new_names[type_name] = record_id
                new_ids[record_id] = record
            if records and tenant_key not in self._tenants:
                with self._admission:
                    self._tenants[tenant_key] = data
            data.seq = seq
            data.add_many(records, new_ids, new_names)
            return records

    def get(self, tenant_key: str, record_id: str) -> Record:
        """The tenant's record with that id, or 404."""
        data = self._tenants.get(tenant_key)
        record = data.by_id.get(record_id) if data is not None else None
        if record is None:
            raise NotFound(f"Record not found: {_shorten(record_id)}")
        return record

    def holds_records(self, tenant_key: str) -> bool:
        """Whether the tenant holds a record. Without the lock (one dict lookup, atomic), so that
        other parts can ask while holding theirs."""
        data = self._tenants.get(tenant_key)
        return data is not None and bool(data.by_id)

    def has_id(self, tenant_key: str, record_id: str) -> bool:
        """Whether the tenant has a record with that id."""
        data = self._tenants.get(tenant_key)
        return data is not None and record_id in data.by_id

    def find_by_name(self, tenant_key: str, record_type: str, name: str) -> Record | None:
        """The tenant's record of that type and name, if any."""
        with self._locked(tenant_key):
            data = self._tenants.get(tenant_key)
            record_id = data.by_type_name.get((record_type, name)) if data else None
            return data.by_id[record_id] if record_id else None

    def update(self, tenant_key: str, record_id: str, changes: Mapping[str, Any]) -> Record:
        """Apply a partial update (any of type, name, metadata, messages, ownerId).

        `metadata` replaces the whole metadata object. `updatedAt` always moves forward, by at
        least a millisecond, so a client can see that the update happened even on a frozen clock.
        With no updatable field there is no update: the record comes back as it is (the
        reference's own example sends `{}` and gets the record).
        """
        if not any(key in changes for key in UPDATABLE_FIELDS):
            return self.get(tenant_key, record_id)
        check_nesting(changes)
        size = None
        if "metadata" in changes:
            size = check_metadata_size(changes["metadata"], f"record {_shorten(record_id)}'s")
        with self._locked(tenant_key):
            old = self.get(tenant_key, record_id)
            data = self._tenants[tenant_key]
            new_type = changes.get("type", old.type)
            new_name = changes.get("name", old.name)
            if (new_type, new_name) != (old.type, old.name):
                self._check_free(data, new_type, new_name)
            metadata = dict(changes["metadata"]) if "metadata" in changes else old.metadata
            sets_owner, owner = owner_from(changes, changes.get("metadata"))
            record = replace(
                old,
                type=new_type,
                name=new_name,
                metadata=metadata,
                messages=changes["messages"] if "messages" in changes else old.messages,
                owner_id=owner if sets_owner else old.owner_id,
                updated_at=min(max(self.clock.now_ms(tenant_key), old.updated_at + 1), LAST_MS),
                size=old.size if size is None else size,
            )
            data.remove(old)
            data.add(record)
            return record

    def delete(self, tenant_key: str, record_id: str) -> Record:
        """Remove the tenant's record with that id (404 if there is none) and return it."""
        with self._locked(tenant_key):
            record = self.get(tenant_key, record_id)
            self._tenants[tenant_key].remove(record)
            self._forget_if_empty(tenant_key)
            self._removed(tenant_key, [record.id])
            return record

    def delete_many(self, tenant_key: str, record_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Remove the tenant's records among `record_ids` at once: (deleted ids, ids not found)."""
        deleted: list[str] = []
        missing: list[str] = []
        with self._locked(tenant_key):
            data = self._tenants.get(tenant_key)
            for record_id in dict.fromkeys(record_ids):
                record = data.by_id.get(record_id) if data is not None else None
                if record is None:
                    missing.append(record_id)
                else:
                    data.remove(record)
                    deleted.append(record_id)
            if deleted:
                self._forget_if_empty(tenant_key)
                self._removed(tenant_key, deleted)
        return deleted, missing

    def _forget_if_empty(self, tenant_key: str) -> None:
        """A tenant whose last record went keeps nothing here: a stream of keys that create and
        delete one record must not leave an index (or a lock) behind each."""
        if not self._tenants[tenant_key].by_id:
            self._forget_tenant(tenant_key)

    def _forget_tenant(self, tenant_key: str) -> None:
        """Drop the tenant's data (its lock goes when released)."""
        with self._admission:
            self._tenants.pop(tenant_key, None)

    def edit_metadata(
        self,
        tenant_key: str,
        change: Callable[[Record], dict[str, Any]],
        *,
        record_ids: Iterable[str] | None = None,
        record_type: str | None = None,
        matches: Callable[[Record], bool] | None = None,
        dry_run: bool = False,
        max_records: int | None = None,
    ) -> list[MetadataEdit]:
        """Give many records new metadata, all or none, in one step under the lock.

        Selects the records with `record_ids` (unknown ones are skipped), or else those of
        `record_type` (every type when None) that pass `matches`, newest first. `change(record)`
        returns a record's new metadata; if it raises, or the selection exceeds `max_records`,
        nothing changes. A record whose metadata stays equal keeps its updatedAt; a string
        `ownerId` that the change sets moves the record's owner, as on create.
        """
        with self._locked(tenant_key):
            data = self._tenants.get(tenant_key)
            if data is None:
                return []
            if record_ids is not None:
                selected = [data.by_id[i] for i in dict.fromkeys(record_ids) if i in data.by_id]
            else:
                index = data.all if record_type is None else data.by_type.get(record_type)
                newest_first = reversed(index.orders["createdAt"]) if index is not None else ()
                selected = [r for r in paced(newest_first) if matches is None or matches(r)]
            if max_records is not None and len(selected) > max_records:
                raise InvalidRequest(
                    f"The edit selects {len(selected)} records; at most {max_records} can be edited at once",
                    details=[{"path": "", "message": "narrow the selector"}],
                )
            now = self.clock.now_ms(tenant_key)
            edits = [self._edited(record, change(record), now) for record in paced(selected)]
            if not dry_run:
                for edit in edits:
                    if edit.changed:
                        data.remove(edit.before)
                        data.add(edit.after)
            return edits

    @staticmethod
    def _edited(record: Record, metadata: dict[str, Any], now: int) -> MetadataEdit:
        if metadata == record.metadata:
            return MetadataEdit(record, record)
        owner = metadata.get("ownerId")
        sets_owner = isinstance(owner, str) and owner != record.metadata.get("ownerId")
        after = replace(
            record,
            metadata=metadata,
            owner_id=owner if sets_owner else record.owner_id,
            updated_at=min(max(now, record.updated_at + 1), LAST_MS),
            size=metadata_size(metadata),
        )
        return MetadataEdit(record, after)

    # -- many records ---------------------------------------------------------------------

    def list(self, tenant_key: str, query: ListQuery) -> Page:
        """One page of the tenant's records matching `query`, in its order, from its cursor."""
        fingerprint = query.fingerprint(tenant_key)
        position = self.cursors.decode(query.cursor, fingerprint) if query.cursor else None
        if position is not None:
            _check_key_shape(position.key, query.sort_by)
        with self._locked(tenant_key):
            order = self._order(tenant_key, query)
            predicate = self._predicate(tenant_key, order, query)
            if order is None:
                return Page([], 0, False, False, None, None, 0 if query.include_count else None)
            backward = query.backward and position is not None
            found = list(_take(_walk(order, query.descending, position, backward), predicate, query.limit + 1))
            extra = len(found) > query.limit
            if backward and not extra:
                # Fewer than a page before the position (records were deleted): the first page.
                backward, position = False, None
                found = list(_take(_walk(order, query.descending, None, False), predicate, query.limit + 1))
                extra = len(found) > query.limit
            records = found[: query.limit]
            if backward:
                records.reverse()
                offset = max(position.offset - len(records), 0)
                has_more, has_prev = True, extra
            else:
                offset = position.offset + 1 if position else 0
                has_more, has_prev = extra, offset > 0
            total = None
            if query.include_count:
                total = len(order) if predicate is None else sum(1 for r in paced(order) if predicate(r))
        key = SORT_KEYS[query.sort_by]
        return Page(
            records=records,
            offset=offset,
            has_more=has_more and bool(records),
            has_prev=has_prev and bool(records),
            next_position=CursorPosition(key(records[-1]), offset + len(records) - 1) if has_more and records else None,
            prev_position=CursorPosition(key(records[0]), offset) if has_prev and records else None,
            total=total,
        )

    def matching(self, tenant_key: str, query: ListQuery) -> list[Record]:
        """Every record of the tenant matching `query`'s filters, in its order (no paging)."""
        with self._locked(tenant_key):
            order = self._order(tenant_key, query)
            predicate = self._predicate(tenant_key, order, query)
            if order is None:
                return []
            return list(_take(_walk(order, query.descending, None, False), predicate, None))

    def of_type(self, tenant_key: str, record_type: str) -> list[Record]:
        """The tenant's records of one type, newest first, read from the type's own index."""
        with self._locked(tenant_key):
            data = self._tenants.get(tenant_key)
            index = data.by_type.get(record_type) if data is not None else None
            return list(paced(reversed(index.orders["createdAt"]))) if index is not None else []

    def records_of(self, tenant_key: str) -> list[Record]:
        """Every record of the tenant, oldest first."""
        with self._locked(tenant_key):
            data = self._tenants.get(tenant_key)
            return list(paced(data.all.orders["createdAt"])) if data else []

    def count(self, tenant_key: str | None = None) -> int:
        """Records held: one tenant's when named, else every tenant's. Without a lock: a count
        (taken before a request runs, to estimate its work) may be a moment old, never wrong."""
        if tenant_key is not None:
            data = self._tenants.get(tenant_key)
            return len(data.by_id) if data else 0
        return sum(len(data.by_id) for data in list(self._tenants.values()))

    def size(self, tenant_key: str) -> int:
        """Bytes of the tenant's records' metadata, without a lock (as `count`)."""
        data = self._tenants.get(tenant_key)
        return data.size if data else 0

    def tenant_keys(self) -> list[str]:
        return [key for key, data in list(self._tenants.items()) if data.by_id]

    def clear(self, tenant_key: str | None = None) -> None:
        """Forget every record (of one tenant, when named)."""
        with self.exclusive(tenant_key):
            if tenant_key is None:
                with self._admission:
                    self._tenants.clear()
            else:
                self._forget_tenant(tenant_key)
            self._removed(tenant_key, None)

    # -- helpers --------------------------------------------------------------------------

    def _predicate(self, tenant_key: str, order: SortedKeyList | None,
                   query: ListQuery) -> Callable[[Record], bool] | None:
        """`query`'s filters as one test (at the tenant's now); with `distinct`, also "is the newest of its value"."""
        predicate = query.predicate(self.clock.now_ms(tenant_key))
        distinct_key = query.distinct_key()
        if distinct_key is None or order is None:
            return predicate
        kept = keep_distinct((r for r in paced(order) if predicate is None or predicate(r)), distinct_key)
        return lambda record: record.id in kept

    def _order(self, tenant_key: str, query: ListQuery) -> SortedKeyList | None:
        data = self._tenants.get(tenant_key)
        if data is None:
            return None
        index = data.all if query.type is None else data.by_type.get(query.type)
        return index.orders[query.sort_by] if index is not None else None

    def _check_record_quota(self, data: _TenantData | None) -> None:
        held = len(data.by_id) if data is not None else 0
        if self.max_records_per_tenant is not None and held >= self.max_records_per_tenant:
            raise QuotaExceeded(
                f"Record limit reached: a tenant may hold at most {self.max_records_per_tenant} records "
                "in this sandbox (--max-records-per-tenant); delete some first")

    def _check_tenant_quota(self) -> None:
        """403 if the server is at its tenant cap (called under `_admission`, for a new tenant)."""
        if self.max_tenants is not None:
            tenants = sum(1 for other in self._tenants.values() if other.by_id)
            if tenants >= self.max_tenants:
                raise QuotaExceeded(
                    f"Tenant limit reached: this sandbox holds records of {tenants} tenants, its limit "
                    "(--max-tenants); reset a tenant through /__admin first")

    @staticmethod
    def _check_free(data: _TenantData, record_type: str, name: str) -> None:
        if (record_type, name) in data.by_type_name:
            raise Conflict(
                f"A record of type '{_shorten(record_type)}' named '{_shorten(name)}' already exists",
                existingId=data.by_type_name[(record_type, name)],
            )


def _walk(order: SortedKeyList, descending: bool, position: CursorPosition | None, backward: bool) -> Iterator[Record]:
    """Records in page order after `position` (or, going backward, before it, nearest first)."""
    if position is None:
        return reversed(order) if descending else iter(order)
    toward_lower = descending != backward
    if toward_lower:
        return order.irange_key(max_key=position.key, inclusive=(True, False), reverse=True)
    return order.irange_key(min_key=position.key, inclusive=(False, True))


def _take(records: Iterable[Record], predicate: Callable[[Record], bool] | None, count: int | None) -> Iterator[Record]:
    taken = 0
    for record in paced(records):
        if predicate is None or predicate(record):
            yield record
            taken += 1
            if count is not None and taken >= count:
                return


def _check_key_shape(key: tuple, sort_by: str) -> None:
    if len(key) != 2 or not isinstance(key[0], _KEY_TYPES[sort_by]) or not isinstance(key[1], int):
        raise InvalidRequest("Invalid cursor", details=[{"path": "cursor", "message": "malformed position"}])


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
