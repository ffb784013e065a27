"""The sandbox: settings plus every piece of state a running server holds, and the control
operations on it: load fixtures, reset (everything, or one tenant), export the state.

Its methods that do bulk work (load fixtures, reset, upload a CSV, bulk edit) are where a bulk
load begins (`sandbox/heap.py`): once per operation, and nowhere else.

Fixtures loaded (at start or at runtime) form the baseline that a reset goes back to. Every
control operation can be scoped to one tenant, and then touches nothing of any other tenant.
A tenant is a data partition (`tenant_key`, see `model/tenancy.py`): a registered user's, which
every key of that user reaches, or an open-mode key's own. Control operations and fixtures name a
tenant by an API key; the sandbox works on the partition that key reaches.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from mock_runtype.model.bulk import BulkEdit, bulk_edit
from mock_runtype.model.clock import Clock, IdSource, format_timestamp
from mock_runtype.model.csv_records import plan_upload, run_upload
from mock_runtype.model.executions import Executions
from mock_runtype.sandbox.fixtures import Fixture, FixtureError, Problem, SeedRecord, parse_fixture, read_fixtures
from mock_runtype.sandbox.heap import bulk_load
from mock_runtype.sandbox.journal import DEFAULT_LIMIT, Journal
from mock_runtype.model.records import Record
from mock_runtype.sandbox.scenarios import Scenario, Scenarios
from mock_runtype.model.store import Store
from mock_runtype.model.tenancy import ALL_PERMISSIONS, Tenancy, Tenant, open_tenant

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_RECORDS_PER_TENANT = 100_000
DEFAULT_MAX_TENANTS = 1_000
DEFAULT_MAX_REQUEST_WORK = 10_000_000  # record visits (about a microsecond each at their worst)


@dataclass(frozen=True)
class SandboxSettings:
    """What the sandbox and its HTTP app are configured with (flags, environment or tests); how a
    server runs it is `mock_runtype.serving.adapter.ServerSettings`."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    strict_auth: bool = False
    strict_contract: bool = False  # refuse unknown body fields and query parameters (400) instead of ignoring them
    seed: int | None = None
    clock_start_ms: int | None = None
    check_responses: bool = False  # check every response against the OpenAPI document (500 on a mismatch)
    admin_token: str | None = None
    admin_hosts: tuple[str, ...] = ()  # host names, beyond the unbindable ones, the control API answers without a token
    journal_limit: int = DEFAULT_LIMIT
    max_records_per_tenant: int = DEFAULT_MAX_RECORDS_PER_TENANT
    max_tenants: int = DEFAULT_MAX_TENANTS  # tenants holding records at once
    max_request_work: int = DEFAULT_MAX_REQUEST_WORK  # estimated work past which a request is refused (400)
    cors_origins: tuple[str, ...] = ("*",)  # origins allowed to call from a browser; "*" is any

    @property
    def largest_body_bytes(self) -> int:
        """The larger of the two body limits: no request body the app reads is longer."""
        return max(self.max_body_bytes, self.max_upload_bytes)


class Sandbox:
    """State of one server: the store, flow executions over its records, who may call, the clock
    and the id source, the scenarios, the request journal and the fixtures that define a reset."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self.clock = Clock(self.settings.clock_start_ms)
        self.ids = IdSource(self.settings.seed)
        self.store = Store(self.clock, self.ids, max_records_per_tenant=self.settings.max_records_per_tenant,
                           max_tenants=self.settings.max_tenants)
        self.executions = Executions(self.store)
        self.tenancy = Tenancy(strict=self.settings.strict_auth)
        self.strict_contract = self.settings.strict_contract
        self.scenarios = Scenarios(self.clock, lambda: self.ids.seed, self.in_use, self.tenancy.partition_of)
        self.journal = Journal(self.settings.journal_limit, in_use=self.in_use)
        self.fixtures: list[Fixture] = []
        self._control = threading.RLock()
        # Requests that may have changed the state (any method but GET, HEAD and OPTIONS), counted
        # by the HTTP layer: `mock-runtype serve --state-file` saves only when this has moved.
        self.changes = 0

    def in_use(self, tenant_key: str) -> bool:
        """Whether a tenant keeps something here: records, a fixture's declaration, scenarios or a
        clock of its own. Such a tenant has a journal and scenario counters of its own that no other
        tenant's traffic pushes out. Takes no lock (a lookup in each part), so that the journal and
        the scenarios can ask while holding theirs."""
        return (self.store.holds_records(tenant_key) or bool(self.tenancy.keys_of(tenant_key))
                or self.scenarios.has_own(tenant_key) or self.clock.has_own_clock(tenant_key))

    # -- fixtures ---------------------------------------------------------------------------

    def declared_tenants(self) -> dict[str, str]:
        """API keys the loaded fixtures declare (records of later documents may name them), each
        with the `tenant_key` it reaches."""
        with self._control:
            return {t.api_key: t.tenant_key for f in self.fixtures for t in f.tenants}

    def partition_of(self, api_key: str, fixture: Fixture | None = None) -> str:
        """The `tenant_key` a key reaches, counting the tenants `fixture` declares (before they
        are registered)."""
        declared = next((t for t in fixture.tenants if t.api_key == api_key), None) if fixture else None
        return declared.tenant_key if declared is not None else self.tenancy.partition_of(api_key)

    def _partitions(self, fixture: Fixture) -> dict[str, str]:
        """`partition_of` each API key the fixture's records name (asked once a key, not a record)."""
        return {key: self.partition_of(key, fixture) for key in {r.tenant_key for r in fixture.records}}

    def _scope_of(self, fixture: Fixture) -> str | None:
        return None if fixture.scope is None else self.partition_of(fixture.scope, fixture)

    def load(self, fixture: Fixture) -> dict[str, Any]:
        """Apply a checked fixture and add it to the baseline, all or nothing.

        A document already loaded (same text, same scope) is not loaded twice. Raises
        FixtureError (409) if it clashes with the baseline or the live state.
        """
        with bulk_load():
            return self._load(fixture)

    def load_text(self, text: str, source: str, scope: str | None = None) -> dict[str, Any]:
        """Read a fixture document (for the tenant of the API key `scope`, when named) and load it,
        as `load` does; FixtureError (400) if it is not a valid fixture. Reading allocates as much
        as loading, so both run in the one bulk load."""
        with bulk_load():
            fixture = parse_fixture(text, source, scope=scope, known_tenants=self.declared_tenants())
            return self._load(fixture)

    def load_files(self, paths: list[str]) -> None:
        """Read fixture files and load them in order (`mock-runtype serve` at start); FixtureError
        lists the problems of every file before any is loaded."""
        with bulk_load():
            for fixture in read_fixtures(paths):
                self._load(fixture)

    def _load(self, fixture: Fixture) -> dict[str, Any]:
        with self._control:
            if any(loaded.digest == fixture.digest for loaded in self.fixtures):
                return {"loaded": False, "alreadyLoaded": True, "source": fixture.source}
            self._check_against_baseline(fixture)
            self._pin(fixture)
            with self.store.exclusive():
                self._check_against_live(fixture)
                self._apply(fixture)
            self.fixtures.append(fixture)
            fixture.lines = None  # its lines (and the text they come from) served this load's problems
        return {
            "loaded": True,
            "source": fixture.source,
            "scope": fixture.scope,
            "tenants": sorted(fixture.tenant_keys()),
            "records": len(fixture.records),
            "scenarios": len(fixture.scenarios),
        }

    def _check_against_baseline(self, fixture: Fixture) -> None:
        declared = {t.api_key: t for f in self.fixtures for t in f.tenants}
        seeded = {(self.partition_of(r.tenant_key), r.fields["type"], r.fields["name"]): f.source
                  for f in self.fixtures for r in f.records}
        ids = {(self.partition_of(r.tenant_key), r.id): f.source for f in self.fixtures for r in f.records if r.id}
        problems = []
        partitions = self._partitions(fixture)
        for index, tenant in enumerate(fixture.tenants):
            if tenant.api_key in declared and declared[tenant.api_key] != tenant:
                problems.append(fixture.problem(["tenants", index], "tenant is already declared differently by an earlier fixture"))
        for index, record in enumerate(fixture.records if seeded else ()):  # no earlier seeds: nothing to clash
            partition = partitions[record.tenant_key]
            source = seeded.get((partition, record.fields["type"], record.fields["name"]))
            if source:
                problems.append(fixture.problem(["records", index, "name"], f"duplicate record: {source} already seeds this type and name"))
            if record.id and (partition, record.id) in ids:
                problems.append(fixture.problem(["records", index, "id"], f"duplicate id: {ids[(partition, record.id)]} already seeds it"))
        problems += self._scenario_clashes(fixture, self._baseline_scenario_names(self._scope_of(fixture)))
        if problems:
            raise FixtureError(problems, status=409)

    def _check_against_live(self, fixture: Fixture) -> None:
        problems = []
        partitions = self._partitions(fixture)
        holding = {key for key, partition in partitions.items() if self.store.holds_records(partition)}
        for index, record in enumerate(fixture.records):
            if record.tenant_key not in holding:  # nothing to clash with (a start's load, mostly)
                continue
            partition = partitions[record.tenant_key]
            if self.store.find_by_name(partition, record.fields["type"], record.fields["name"]):
                problems.append(fixture.problem(["records", index, "name"], "a record of this type and name already exists"))
            elif self.store.has_id(partition, record.id):
                problems.append(fixture.problem(["records", index, "id"], "a record with this id already exists"))
        problems += self._scenario_clashes(fixture, self._live_scenario_names(self._scope_of(fixture)))
        if problems:
            raise FixtureError(problems, status=409)

    def _baseline_scenario_names(self, tenant_key: str | None) -> set[str]:
        return {spec["name"] for f in self.fixtures if self._scope_of(f) == tenant_key for spec in f.scenarios}

    def _live_scenario_names(self, tenant_key: str | None) -> set[str]:
        return {spec["name"] for spec in self.scenarios.specs(tenant_key)}

    @staticmethod
    def _scenario_clashes(fixture: Fixture, taken: set[str]) -> list[Problem]:
        return [fixture.problem(["scenarios", index, "name"], f"a scenario named '{spec['name']}' already exists")
                for index, spec in enumerate(fixture.scenarios) if spec.get("name") in taken]

    def _pin(self, fixture: Fixture) -> None:
        """Fix the ids and times a fixture leaves open, so that a reset rebuilds the same state."""
        clock_ms = fixture.settings.get("clock")
        # The document's own seed, which it applies only later, decides its ids as much as the server's.
        ids = IdSource(fixture.settings["seed"]) if "seed" in fixture.settings else self.ids
        # One instant for the load: each partition's now, read once (not once a record).
        nows = {key: clock_ms if clock_ms is not None else self.clock.now_ms(partition)
                for key, partition in self._partitions(fixture).items()}
        derived_id = ids.derived_id
        for record in fixture.records:
            if record.id is None:
                record.id = derived_id(record.tenant_key, record.fields["type"], record.fields["name"])
            if record.created_at is None:  # a record is not updated before it exists
                now = nows[record.tenant_key]
                record.created_at = now if record.updated_at is None else min(now, record.updated_at)
            if record.updated_at is None:
                record.updated_at = record.created_at
            if record.results or record.step_results:
                for kind, items in (("result", record.results), ("step", record.step_results)):
                    for index, item in enumerate(items):
                        item.setdefault("id", derived_id(record.tenant_key, record.id, kind, str(index)))
                        item.setdefault("createdAt", format_timestamp(record.created_at))
        names = {spec["name"] for spec in fixture.scenarios if spec.get("name")}
        scope = self._scope_of(fixture)
        names |= self._baseline_scenario_names(scope) | self._live_scenario_names(scope)
        for index, spec in enumerate(fixture.scenarios):
            if not spec.get("name"):
                number = index + 1
                while f"scenario-{number}" in names:
                    number += 1
                spec["name"] = f"scenario-{number}"
                names.add(spec["name"])

    def _apply(self, fixture: Fixture, tenant_key: str | None = None) -> None:
        """Apply a pinned fixture: all of it, or only what concerns one tenant (for its reset)."""
        settings = fixture.settings
        scope = self._scope_of(fixture)
        if tenant_key is None:
            if "strictAuth" in settings:
                self.tenancy.strict = settings["strictAuth"]
            if "strictContract" in settings:
                self.strict_contract = settings["strictContract"]
            if "seed" in settings:
                self.ids.reseed(settings["seed"])
            if "journalLimit" in settings:
                self.journal.resize(settings["journalLimit"])
            if "clock" in settings:
                self._set_clock(settings["clock"], scope)
            for tenant in fixture.tenants:
                self.tenancy.register(tenant)
        elif scope == tenant_key and "clock" in settings:
            self._set_clock(settings["clock"], tenant_key)
        partitions = {key: self.partition_of(key) for key in {r.tenant_key for r in fixture.records}}
        self._seed_records(fixture.records if tenant_key is None else
                           [record for record in fixture.records if partitions[record.tenant_key] == tenant_key], partitions)
        if tenant_key is None or scope == tenant_key:
            for spec in fixture.scenarios:
                self.scenarios.add(spec, scope)

    def _set_clock(self, ms: int | None, tenant_key: str | None) -> None:
        if ms is None:
            self.clock.release(tenant_key)
        else:
            self.clock.set(ms, tenant_key)

    def _seed_records(self, seeds: list[SeedRecord], partitions: dict[str, str]) -> None:
        """Store the seeds as `store.create` of each in turn would (their order kept within each
        partition), each run of one API key's seeds in one `create_many`, which sorts each index
        once; then their runs."""
        runs: dict[str, list[list[SeedRecord]]] = {}  # a partition's runs of seeds of one key, in order
        for seed in seeds:
            partition = runs.setdefault(partitions[seed.tenant_key], [])
            if partition and partition[-1][0].tenant_key == seed.tenant_key:
                partition[-1].append(seed)
            else:
                partition.append([seed])
        with_runs = any(seed.results or seed.step_results for seed in seeds)
        records = {}  # the stored record of each seed with runs, by the seed
        for partition in runs.values():
            for run in partition:
                stored = self.store.create_many(self.tenant(run[0].tenant_key), run)
                if with_runs:
                    records.update((id(seed), record) for seed, record in zip(run, stored)
                                   if seed.results or seed.step_results)
        for seed in seeds if with_runs else ():
            if seed.results or seed.step_results:
                record = records[id(seed)]
                for result in seed.results:
                    self.executions.add_result(record.tenant_key, record.id, result)
                for step in seed.step_results:
                    self.executions.add_step_result(record.tenant_key, record.id, step)

    # -- bulk work on records ---------------------------------------------------------------

    def upload_csv(self, tenant: Tenant, data: str | bytes, *, name_column: str | None = None,
                   type_column: str | None = None, type_value: str | None = None) -> dict[str, Any]:
        """Read a CSV upload and create its records (`model/csv_records.py`): the answer's body."""
        with bulk_load():
            plan = plan_upload(data, name_column=name_column, type_column=type_column, type_value=type_value)
            return run_upload(self.store, tenant, plan)

    def bulk_edit(self, tenant_key: str, edit: BulkEdit) -> dict[str, Any]:
        """Apply (or preview) a checked bulk edit (`model/bulk.py`): the answer's body."""
        with bulk_load():
            return bulk_edit(self.store, tenant_key, edit)

    def tenant(self, api_key: str) -> Tenant:
        """The registered tenant with this key, or the open-mode tenant it stands for."""
        return self.tenancy.get(api_key) or open_tenant(api_key)

    def add_scenario(self, spec: dict[str, Any], tenant_key: str | None = None) -> Scenario:
        """Add a scenario at runtime (for one tenant, when named); 409 if its name is taken.

        Taken with the control lock, so that it cannot slip between a load's or a reset's check
        of scenario names and the adding of theirs, which would then fail halfway through.
        """
        with self._control:
            return self.scenarios.add(spec, tenant_key)

    # -- reset ------------------------------------------------------------------------------

    def reset(self, tenant_key: str | None = None) -> None:
        """Back to the state the fixtures define: everything, or one tenant alone (its records and
        results, its journal entries, its scenarios and counters, its clock and id sequence)."""
        with self._control, self.store.exclusive(tenant_key), bulk_load():
            if tenant_key is None:
                self._clear()
            else:
                self.store.clear(tenant_key)
                self._restore_registration(tenant_key)
                self.ids.restart(tenant_key)
                self.clock.release(tenant_key)
                self.journal.clear(tenant_key)
                self.scenarios.clear(tenant_key)
            for fixture in self.fixtures:
                self._apply(fixture, tenant_key)

    def _clear(self) -> None:
        """Everything back to the settings', with no fixture applied."""
        self.store.clear()
        self.tenancy.clear()
        self.tenancy.strict = self.settings.strict_auth
        self.strict_contract = self.settings.strict_contract
        self.ids.reseed(self.settings.seed)
        self.clock.reset(self.settings.clock_start_ms)
        self.journal.clear()
        self.journal.resize(self.settings.journal_limit)
        self.scenarios.clear()

    def restore(self, text: str, source: str) -> dict[str, Any]:
        """Make a saved state (an `export_state()` document) the live state; the fixtures stay the
        baseline a reset returns to. FixtureError (nothing changed) if the text is not such a document."""
        with bulk_load():
            fixture = parse_fixture(text, source, known_tenants=self.declared_tenants())
            with self._control, self.store.exclusive():
                self._clear()
                self._pin(fixture)
                self._apply(fixture)
        return {"tenants": len(fixture.tenant_keys()), "records": len(fixture.records)}

    def _restore_registration(self, tenant_key: str) -> None:
        """Register the keys reaching the tenant as the fixtures declare them (all declarations
        agree), and unregister those none declares: each in one step, so that no request sees a
        key unregistered in between."""
        declared = {t.api_key: t for f in self.fixtures for t in f.tenants}
        keys = [t.api_key for t in self.tenancy.keys_of(tenant_key)]
        keys += [key for key, t in declared.items() if t.tenant_key == tenant_key and key not in keys]
        for key in keys:
            if key in declared:
                self.tenancy.register(declared[key])
            else:
                self.tenancy.unregister(key)

    def forget_fixtures(self, tenant_key: str | None = None) -> int:
        """Drop fixtures from the baseline (only those loaded for one tenant, when named), then
        reset (that tenant). Returns how many went."""
        with self._control:
            kept = [f for f in self.fixtures if tenant_key is not None and self._scope_of(f) != tenant_key]
            dropped = len(self.fixtures) - len(kept)
            self.fixtures = kept
            self.reset(tenant_key)
            return dropped

    # -- export -----------------------------------------------------------------------------

    def export_state(self, tenant_key: str | None = None) -> dict[str, Any]:
        """The state as a fixture document that loads back (into a fresh server, or scoped to the
        same tenant once its fixtures are forgotten) to the same records, results, tenants and scenarios."""
        with self._control, self.store.exclusive(tenant_key):
            if tenant_key is None:
                registered = [t.tenant_key for t in self.tenancy.registered()]
                partitions = list(dict.fromkeys([*registered, *self.store.tenant_keys()]))
                settings: dict[str, Any] = {"strictAuth": self.tenancy.strict, "strictContract": self.strict_contract,
                                            "journalLimit": self.journal.limit}
                if self.ids.seed is not None:
                    settings["seed"] = self.ids.seed
                if self.clock.controlled:
                    settings["clock"] = format_timestamp(self.clock.now_ms(None))
                # A tenant's own scenarios come before the server-wide ones: first, they still do.
                scenarios = self._scoped_scenarios_as_server_wide() + self.scenarios.specs(None)
            else:
                partitions = [tenant_key]
                settings = {}
                if self.clock.has_own_clock(tenant_key):
                    settings["clock"] = format_timestamp(self.clock.now_ms(tenant_key))
                scenarios = self.scenarios.specs(tenant_key)
            keys = {partition: self._keys_reaching(partition) for partition in partitions}
            # Records are immutable: their references, taken under the locks, are the snapshot;
            # shaping them (most of the time: 1.7 s of 100,000) waits for no lock and holds up no request.
            held = [(self.store.records_of(partition), self._results_by_record(partition), keys[partition][0].api_key)
                    for partition in partitions]
        document: dict[str, Any] = {}
        if settings:
            document["settings"] = settings
        document["tenants"] = [_tenant_to_fixture(t) for partition in partitions for t in keys[partition]]
        document["records"] = [self._record_to_fixture(r, results, api_key) for records, results, api_key in held
                               for r in records]
        document["scenarios"] = scenarios
        return document

    def _keys_reaching(self, tenant_key: str) -> list[Tenant]:
        """The keys that name a tenant in a document: its registered keys, or the open-mode key it is."""
        return self.tenancy.keys_of(tenant_key) or [open_tenant(tenant_key)]

    def api_key_naming(self, tenant_key: str) -> str:
        """An API key that names the tenant: its first registered key, or the open-mode key it is."""
        return self._keys_reaching(tenant_key)[0].api_key

    def _scoped_scenarios_as_server_wide(self) -> list[dict[str, Any]]:
        """Tenant-scoped scenarios, written as server-wide ones matching their tenant."""
        taken = {spec["name"] for spec in self.scenarios.specs(None)}
        converted = []
        for tenant_key in self.scenarios.scopes():
            for spec in self.scenarios.specs(tenant_key):
                name, number = spec["name"], 2
                while name in taken:
                    name, number = f"{spec['name']}-{number}", number + 1
                taken.add(name)
                converted.append({**spec, "name": name, "when": {**(spec.get("when") or {}), "tenant": self.api_key_naming(tenant_key)}})
        return converted

    def _results_by_record(self, tenant_key: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
        exported = self.executions.export(tenant_key)
        grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for kind in ("results", "stepResults"):
            for item in exported[kind]:
                entry = {k: v for k, v in item.items() if k != "recordId"}
                grouped.setdefault(item["recordId"], {"results": [], "stepResults": []})[kind].append(entry)
        return grouped

    @staticmethod
    def _record_to_fixture(record: Record, results: dict[str, dict[str, list[dict[str, Any]]]], api_key: str) -> dict[str, Any]:
        out: dict[str, Any] = {"tenant": api_key, "id": record.id, "type": record.type, "name": record.name,
                               "metadata": record.metadata}
        if record.messages is not None:
            out["messages"] = record.messages
        if record.owner_id is not None or isinstance(record.metadata.get("ownerId"), str):
            out["ownerId"] = record.owner_id
        if record.product_surface_id is not None:
            out["productSurfaceId"] = record.product_surface_id
        out["createdAt"] = format_timestamp(record.created_at)
        out["updatedAt"] = format_timestamp(record.updated_at)
        for kind, items in results.get(record.id, {}).items():
            if items:
                out[kind] = items
        return out

    # -- clock ------------------------------------------------------------------------------

    def clock_json(self, tenant_key: str | None = None) -> dict[str, Any]:
        """`{"now", "controlled"}` for the server, or for one tenant."""
        return {"now": format_timestamp(self.clock.now_ms(tenant_key)), "controlled": self.clock.controlled_for(tenant_key)}


def _tenant_to_fixture(tenant: Tenant) -> dict[str, Any]:
    out: dict[str, Any] = {"apiKey": tenant.api_key, "organizationId": tenant.organization_id, "userId": tenant.user_id}
    if tenant.permissions != ALL_PERMISSIONS:
        out["permissions"] = sorted(tenant.permissions)
    return out
