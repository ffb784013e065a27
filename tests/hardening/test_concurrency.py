"""64 clients at once against one tenant: creates, updates, renames, deletes, bulk edits, bulk
deletes and lists for a bounded time (10 s; `MOCK_RUNTYPE_STRESS_SECONDS` shortens it), and at
least MIN_CALLS_PER_CLIENT calls each however slow the machine.

Names come from a small pool so that creates and renames collide all the time. Each client keeps
a ledger of what the server confirmed; afterwards the ledgers must add up to what is stored.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests

from tests.conftest import RunningServer

CLIENTS = 64
SECONDS = float(os.environ.get("MOCK_RUNTYPE_STRESS_SECONDS", "10"))
# Each client goes on past the deadline until it has made this many calls, so that what the end
# asserts happened (collisions: 409s on create and rename) does not hang on the machine's speed:
# a few hundred calls over 80 names are plenty, and a loaded machine still makes thousands in 10 s.
MIN_CALLS_PER_CLIENT = 20
TYPES = ("lead", "deal")
NAMES = [f"name-{i}" for i in range(40)]  # per type: a list page of 100 holds all of a type's records
EXPECTED = {
    "create": {201, 409},
    "update": {200, 404},
    "rename": {200, 404, 409},
    "delete": {200, 404},
    "bulk-edit": {200},
    "bulk-delete": {200},
    "list": {200},
}


@dataclass
class Ledger:
    """What one client saw the server confirm."""

    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    duplicates_seen: list[tuple[str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def stress_server():
    running = RunningServer()
    yield running
    running.close()


def client_loop(base: str, api_key: str, known: list[str], deadline: float, seed: int, ledger: Ledger) -> None:
    rng = random.Random(seed)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"

    def call(kind: str, method: str, path: str, **kwargs) -> requests.Response | None:
        try:
            response = session.request(method, base + path, timeout=30, **kwargs)
        except requests.RequestException as error:
            ledger.unexpected.append(f"{kind}: {error!r}")
            return None
        ledger.statuses[(kind, response.status_code)] += 1
        if response.status_code not in EXPECTED[kind]:
            ledger.unexpected.append(f"{kind}: {response.status_code} {response.text[:200]}")
        return response

    calls = 0
    while time.monotonic() < deadline or calls < MIN_CALLS_PER_CLIENT:
        calls += 1
        roll = rng.random()
        target = rng.choice(known) if known else str(uuid.uuid4())
        if roll < 0.30:
            response = call("create", "POST", "/v1/records",
                            json={"type": rng.choice(TYPES), "name": rng.choice(NAMES), "metadata": {"by": seed}})
            if response is not None and response.status_code == 201:
                ledger.created.append(response.json()["id"])
                known.append(response.json()["id"])
        elif roll < 0.42:
            call("update", "PATCH", f"/v1/records/{target}", json={"metadata": {"touched": rng.random()}})
        elif roll < 0.54:
            call("rename", "PATCH", f"/v1/records/{target}", json={"type": rng.choice(TYPES), "name": rng.choice(NAMES)})
        elif roll < 0.64:
            response = call("delete", "DELETE", f"/v1/records/{target}")
            if response is not None and response.status_code == 200:
                ledger.deleted.append(response.json()["id"])
        elif roll < 0.72:
            ids = rng.sample(known, min(len(known), 5))
            if ids:
                call("bulk-edit", "POST", "/v1/records/bulk-edit", json={"recordIds": ids, "updates": {"bulk": seed}})
        elif roll < 0.76:
            ids = rng.sample(known, min(len(known), 3)) or [target]
            response = call("bulk-delete", "POST", "/v1/records/bulk-delete", json={"ids": ids})
            if response is not None and response.status_code == 200:
                ledger.deleted.extend(response.json()["deletedIds"])
        else:
            response = call("list", "GET", "/v1/records", params={"type": rng.choice(TYPES), "limit": 100})
            if response is not None and response.status_code == 200:
                seen = Counter((r["type"], r["name"]) for r in response.json()["data"])
                ledger.duplicates_seen.extend(key for key, count in seen.items() if count > 1)
    session.close()


def listed_ids(base: str, api_key: str) -> list[str]:
    """Every record of the tenant, walking the cursors."""
    ids: list[str] = []
    params: dict[str, str | int] = {"limit": 100}
    while True:
        page = requests.get(base + "/v1/records", params=params, headers={"Authorization": f"Bearer {api_key}"},
                            timeout=30).json()
        ids.extend(r["id"] for r in page["data"])
        if not page["pagination"]["hasMore"]:
            return ids
        params["cursor"] = page["pagination"]["nextCursor"]


def test_64_clients_mixing_every_write_and_list_leave_consistent_state(stress_server):
    api_key = f"rt_test_{uuid.uuid4().hex}"
    known: list[str] = []  # ids any client created; shared so clients touch each other's records
    ledgers = [Ledger() for _ in range(CLIENTS)]
    deadline = time.monotonic() + SECONDS
    threads = [threading.Thread(target=client_loop, args=(stress_server.url, api_key, known, deadline, seed, ledger))
               for seed, ledger in enumerate(ledgers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 60)
    assert not any(thread.is_alive() for thread in threads), "a client hung"

    statuses = sum((ledger.statuses for ledger in ledgers), Counter())
    operations = sum(statuses.values())
    print(f"\nconcurrency: {operations} operations by {CLIENTS} clients in {SECONDS:g} s: {dict(sorted(statuses.items()))}")
    assert [problem for ledger in ledgers for problem in ledger.unexpected] == []
    assert not any(status >= 500 for _, status in statuses)
    assert [dup for ledger in ledgers for dup in ledger.duplicates_seen] == [], "a type + name was visible twice"

    created = [i for ledger in ledgers for i in ledger.created]
    deleted = [i for ledger in ledgers for i in ledger.deleted]
    assert len(set(created)) == len(created), "an id was handed out twice"
    assert len(set(deleted)) == len(deleted), "a record was deleted twice"
    assert set(deleted) <= set(created)
    final = listed_ids(stress_server.url, api_key)
    assert len(set(final)) == len(final)
    assert set(final) == set(created) - set(deleted), "every 201 is findable unless a delete of it succeeded"
    assert len(final) == len(created) - len(deleted)
    for record_id in rng_sample(final):
        response = requests.get(f"{stress_server.url}/v1/records/{record_id}", headers={"Authorization": f"Bearer {api_key}"},
                                timeout=30)
        assert response.status_code == 200
    stored = stress_server.sandbox.store.records_of(api_key)
    assert len({(r.type, r.name) for r in stored}) == len(stored), "the store holds a duplicate type + name"
    assert statuses[("create", 201)] > 0 and statuses[("rename", 409)] > 0 and statuses[("list", 200)] > 0


def rng_sample(ids: list[str], size: int = 50) -> list[str]:
    return random.Random(0).sample(ids, min(size, len(ids)))
