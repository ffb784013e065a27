"""Per-tenant control under load: resetting one tenant never touches another."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from mock_runtype.testing import Control, new_api_key

CREATES_PER_TENANT = 120


def create_many(base_url: str, api_key: str, prefix: str) -> list[int]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {api_key}"
        return [
            session.post(f"{base_url}/v1/records", json={"type": "item", "name": f"{prefix}{i}"}).status_code
            for i in range(CREATES_PER_TENANT)
        ]


def test_resetting_one_tenant_under_load_leaves_the_other_whole(server):
    kept, wiped = new_api_key(), new_api_key()
    control = Control(server.url)
    done = threading.Event()
    resets = 0

    def keep_resetting() -> None:
        nonlocal resets
        while not done.is_set():
            control.tenant(wiped).reset()
            resets += 1

    with ThreadPoolExecutor(max_workers=5) as pool:
        resetter = pool.submit(keep_resetting)
        writers = [pool.submit(create_many, server.url, key, f"{key[-4:]}-{n}-")
                   for n in range(2) for key in (kept, wiped)]
        statuses = [status for writer in writers for status in writer.result()]
        done.set()
        resetter.result()

    assert resets > 0 and set(statuses) == {201}
    records = control.tenant(kept).state()["records"]
    assert len(records) == 2 * CREATES_PER_TENANT
    journal = control.tenant(kept).requests(method="POST")
    assert len(journal) == 2 * CREATES_PER_TENANT and {e["status"] for e in journal} == {201}
    control.tenant(wiped).reset()
    assert control.tenant(wiped).state()["records"] == []
