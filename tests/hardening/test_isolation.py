"""Two tenants driven through random operations on every endpoint; a model of each tenant's records
is kept from what the server confirmed. After every step each tenant's list must be exactly its
own model; at the end of each run, so must its filtered lists, search, export, field values,
schema and preview: nothing of the other tenant visible, counted, or changed.

Both tenants draw types, names and metadata from the same small pools, so a leak cannot hide
behind different data. Ids of either tenant are fed to both, so every rule also tries to reach
across.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

EXAMPLES = 40
STEPS = 15
TENANTS = (0, 1)
TYPES = ("lead", "deal")
NAMES = ("alpha", "beta", "gamma")
STAGES = ("new", "won")

tenants = st.sampled_from(TENANTS)
types = st.sampled_from(TYPES)
names = st.sampled_from(NAMES)
metadata = st.fixed_dictionaries({"stage": st.sampled_from(STAGES)}, optional={"n": st.integers(0, 3)})


def matches_search(record: dict[str, Any], needle: str) -> bool:
    texts = [record["name"], *(v if isinstance(v, str) else json.dumps(v) for v in record["metadata"].values())]
    return any(needle in text.casefold() for text in texts)


class TwoTenants(RuleBasedStateMachine):
    records = Bundle("records")

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base = base_url
        self.sessions = []
        for _ in TENANTS:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer rt_test_{uuid.uuid4().hex}"
            self.sessions.append(session)
        self.model: list[dict[str, dict[str, Any]]] = [{}, {}]  # per tenant: id -> type, name, metadata

    def call(self, tenant: int, method: str, path: str, **kwargs) -> requests.Response:
        response = self.sessions[tenant].request(method, self.base + path, timeout=30, **kwargs)
        assert response.status_code < 500, response.text[:300]
        return response

    def owner(self, record_id: str) -> int | None:
        return next((t for t in TENANTS if record_id in self.model[t]), None)

    def taken(self, tenant: int, record_type: str, name: str, but: str | None = None) -> bool:
        return any((r["type"], r["name"]) == (record_type, name) for i, r in self.model[tenant].items() if i != but)

    def of_type(self, tenant: int, record_type: str) -> dict[str, dict[str, Any]]:
        return {i: r for i, r in self.model[tenant].items() if r["type"] == record_type}

    def teardown(self) -> None:
        """At the end of each run: every other view of the data (filters, export, discovery)."""
        try:
            self.filters_search_and_export_see_only_own_records()
            self.discovery_counts_only_own_records()
        finally:
            for session in self.sessions:
                session.close()

    # -- writes ----------------------------------------------------------------------------------

    @initialize(target=records, tenant=tenants, record_type=types, name=names, meta=metadata)
    def first_record(self, tenant, record_type, name, meta):
        return self.create(tenant, record_type, name, meta)

    @rule(target=records, tenant=tenants, record_type=types, name=names, meta=metadata)
    def create(self, tenant, record_type, name, meta):
        response = self.call(tenant, "POST", "/v1/records", json={"type": record_type, "name": name, "metadata": meta})
        if self.taken(tenant, record_type, name):
            assert response.status_code == 409
            return response.json()["existingId"]
        assert response.status_code == 201, response.text
        record_id = response.json()["id"]
        self.model[tenant][record_id] = {"type": record_type, "name": name, "metadata": meta}
        return record_id

    @rule(tenant=tenants, record_id=records, record_type=types, name=names, meta=metadata)
    def update(self, tenant, record_id, record_type, name, meta):
        response = self.call(tenant, "PATCH", f"/v1/records/{record_id}",
                             json={"type": record_type, "name": name, "metadata": meta})
        if record_id not in self.model[tenant]:
            assert response.status_code == 404
        elif self.taken(tenant, record_type, name, but=record_id):
            assert response.status_code == 409
        else:
            assert response.status_code == 200
            self.model[tenant][record_id] = {"type": record_type, "name": name, "metadata": meta}

    @rule(tenant=tenants, record_id=records)
    def delete(self, tenant, record_id):
        response = self.call(tenant, "DELETE", f"/v1/records/{record_id}")
        assert response.status_code == (200 if self.model[tenant].pop(record_id, None) else 404)

    @rule(tenant=tenants, ids=st.lists(records, min_size=1, max_size=4, unique=True))
    def bulk_delete(self, tenant, ids):
        body = self.call(tenant, "POST", "/v1/records/bulk-delete", json={"ids": ids}).json()
        own = [i for i in ids if i in self.model[tenant]]
        assert sorted(body["deletedIds"]) == sorted(own)
        assert sorted(body["notFoundIds"]) == sorted(set(ids) - set(own))
        for record_id in own:
            del self.model[tenant][record_id]

    @rule(tenant=tenants, selector=st.sampled_from(["ids", "all", "filter", "conditions"]),
          ids=st.lists(records, min_size=1, max_size=4, unique=True), record_type=types,
          stage=st.sampled_from(STAGES), dry_run=st.booleans())
    def bulk_edit(self, tenant, selector, ids, record_type, stage, dry_run):
        mine = self.model[tenant]
        body: dict[str, Any] = {"updates": {"stage": stage}, "dryRun": dry_run}
        if selector == "ids":
            body["recordIds"], selected = ids, [i for i in ids if i in mine]
        elif selector == "all":
            body["applyToAll"], selected = True, list(mine)
        elif selector == "filter":
            body["recordFilter"] = {"type": record_type, "where": {"field": "stage", "op": "neq", "value": stage}}
            selected = [i for i, r in mine.items() if r["type"] == record_type and r["metadata"]["stage"] != stage]
        else:
            body["conditions"] = [{"field": "stage", "operator": "not_equals", "value": stage}]
            selected = [i for i, r in mine.items() if r["metadata"]["stage"] != stage]
        response = self.call(tenant, "POST", "/v1/records/bulk-edit", json=body)
        assert response.status_code == 200, response.text
        touched = {item["id"] for item in response.json()["data"]}
        assert touched == set(selected)
        if not dry_run:
            for record_id in selected:
                mine[record_id]["metadata"] = {**mine[record_id]["metadata"], "stage": stage}

    @rule(tenant=tenants, rows=st.lists(st.tuples(names, st.sampled_from(STAGES)), min_size=1, max_size=3, unique_by=lambda r: r[0]),
          record_type=types)
    def upload(self, tenant, rows, record_type):
        text = "name,stage\r\n" + "".join(f"{name},{stage}\r\n" for name, stage in rows)
        response = self.call(tenant, "POST", "/v1/records/upload-csv", data={"typeValue": record_type},
                             files={"file": ("r.csv", text.encode(), "text/csv")})
        assert response.status_code == 200, response.text
        created = {r["name"]: r["id"] for r in response.json()["records"]}
        expected = [name for name, _ in rows if not self.taken(tenant, record_type, name)]
        assert sorted(created) == sorted(expected)
        for name, stage in rows:
            if name in created:
                self.model[tenant][created[name]] = {"type": record_type, "name": name, "metadata": {"stage": stage}}

    # -- reads that take an id: answered for the owner only ----------------------------------------

    @rule(tenant=tenants, record_id=records,
          path=st.sampled_from(["", "/results", "/step-results", "/costs"]))
    def read_one(self, tenant, record_id, path):
        response = self.call(tenant, "GET", f"/v1/records/{record_id}{path}")
        if record_id in self.model[tenant]:
            assert response.status_code == 200
            if path == "":
                assert response.json()["name"] == self.model[tenant][record_id]["name"]
        else:
            assert response.status_code == 404

    @rule(tenant=tenants, record_id=records)
    def delete_result(self, tenant, record_id):
        response = self.call(tenant, "DELETE", f"/v1/records/{record_id}/results", json={"resultId": "r-1"})
        assert response.status_code == 404  # no results exist; another tenant's record is as absent as a result

    # -- what each tenant sees: exactly its model ---------------------------------------------------

    @invariant()
    def each_tenant_lists_exactly_its_records(self):
        for tenant in TENANTS:
            body = self.call(tenant, "GET", "/v1/records", params={"limit": 100, "includeCount": "true"}).json()
            assert {r["id"] for r in body["data"]} == set(self.model[tenant])
            assert body["pagination"]["totalCount"] == len(self.model[tenant])

    def filters_search_and_export_see_only_own_records(self):
        for tenant in TENANTS:
            mine = self.model[tenant]
            for record_type in TYPES:
                listed = self.call(tenant, "GET", "/v1/records", params={"type": record_type, "limit": 100}).json()
                assert {r["id"] for r in listed["data"]} == set(self.of_type(tenant, record_type))
            found = self.call(tenant, "GET", "/v1/records", params={"search": "a", "limit": 100}).json()
            assert {r["id"] for r in found["data"]} == {i for i, r in mine.items() if matches_search(r, "a")}
            where = json.dumps({"where": {"field": "stage", "op": "eq", "value": "new"}})
            filtered = self.call(tenant, "GET", "/v1/records", params={"recordFilter": where, "limit": 100}).json()
            assert {r["id"] for r in filtered["data"]} == {i for i, r in mine.items() if r["metadata"]["stage"] == "new"}
            export = self.call(tenant, "GET", "/v1/records/export")
            exported = {row["id"] for row in csv.DictReader(io.StringIO(export.text))} if export.status_code == 200 else set()
            assert export.status_code in (200, 204) and exported == set(mine)

    def discovery_counts_only_own_records(self):
        for tenant in TENANTS:
            for record_type in TYPES:
                mine = self.of_type(tenant, record_type)
                values = self.call(tenant, "GET", "/v1/records/field-values",
                                   params={"type": record_type, "field": "stage"}).json()
                counts = {v["value"]: v["count"] for v in values["values"]}
                expected = {s: c for s in STAGES if (c := sum(r["metadata"]["stage"] == s for r in mine.values()))}
                assert counts == expected
                schema = self.call(tenant, "GET", "/v1/records/schema", params={"type": record_type}).json()
                assert schema["totalRecords"] == len(mine)
                preview = self.call(tenant, "POST", "/v1/records/preview-filter",
                                    json={"type": record_type, "where": {"field": "stage", "op": "eq", "value": "won"}}).json()
                assert preview["matchedCount"] == sum(r["metadata"]["stage"] == "won" for r in mine.values())
                assert {s["id"] for s in preview["samples"]} <= set(mine)


def test_two_tenants_never_see_count_or_change_each_others_records(server):
    run_state_machine_as_test(
        lambda: TwoTenants(server.url),
        settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, derandomize=True, deadline=None,
                          database=None, suppress_health_check=list(HealthCheck)),
    )
