"""The request journal: bounded per tenant and in total, secrets shown only as fingerprints."""

from __future__ import annotations

from mock_runtype.sandbox.exchange import Exchange
from mock_runtype.sandbox.journal import Journal, entry_filter
from mock_runtype.model.tenancy import fingerprint


def exchange(tenant: str | None, path: str = "/v1/records", method: str = "GET", status: int = 200) -> Exchange:
    headers = {"authorization": f"Bearer {tenant}"} if tenant else {}
    return Exchange(method, path, {}, headers, b"", tenant, 0, status=status)


def test_one_busy_tenant_never_pushes_out_another_tenants_entries():
    journal = Journal(limit=3)
    journal.record(exchange("quiet"))
    for _ in range(10):
        journal.record(exchange("busy"))
    assert len(journal.entries("busy")) == 3 and len(journal.entries("quiet")) == 1


def test_the_total_bound_drops_the_oldest_entries_of_the_longest_journal_first():
    journal = Journal(limit=2, total_limit=3)
    for tenant in ("a", "a", "b", "c"):
        journal.record(exchange(tenant))
    assert [len(journal.entries(t)) for t in ("a", "b", "c")] == [1, 1, 1]


def test_entries_show_fingerprints_never_tokens_and_filter():
    journal = Journal()
    journal.record(exchange("sk_secret", method="POST", status=201))
    journal.record(exchange("sk_secret", path="/v1/records/1/costs", status=404))
    [entry] = journal.entries("sk_secret", match=entry_filter(method="post"))
    assert entry["tenant"] == fingerprint("sk_secret")
    assert entry["headers"]["authorization"] == f"Bearer fp:{fingerprint('sk_secret')}"
    assert "sk_secret" not in str(journal.entries())
    assert [e["status"] for e in journal.entries(match=entry_filter(path="/v1/records/*/costs"))] == [404]
    assert journal.clear("sk_secret") == 2 and journal.entries() == []


def test_keys_that_keep_nothing_share_one_bucket_and_a_key_that_stops_keeping_joins_it():
    in_use = {"kept"}
    journal = Journal(limit=3, in_use=lambda key: key in in_use)
    journal.record(exchange("kept"))
    journal.record(exchange("gone"))
    for number in range(10):
        journal.record(exchange(f"fresh{number}"))
    journal.record(exchange(None))
    assert [len(journal.entries(t)) for t in ("kept", "gone", "fresh9")] == [1, 0, 1]
    assert len(journal.entries()) == 4
    in_use.discard("kept")  # its own entry joins the bucket as the oldest there, and goes first
    journal.record(exchange("kept"))
    assert [e["id"] for e in journal.entries("kept")] == [14] and len(journal.entries()) == 3
    assert journal.clear("kept") == 1 and len(journal.entries()) == 2


def test_newest_gives_the_latest_matching_entries_across_journals_newest_first():
    journal = Journal(limit=10, in_use=lambda key: key == "own")
    for n in range(6):
        journal.record(exchange("own" if n % 2 else None, path=f"/v1/records/{n}", status=404 if n == 4 else 200))
    assert [e["path"] for e in journal.newest(3)] == ["/v1/records/5", "/v1/records/4", "/v1/records/3"]
    assert [e["path"] for e in journal.newest(10, lambda e: e.status == 200 and e.tenant_key is None)] == \
        ["/v1/records/2", "/v1/records/0"]
    first = journal.newest(10)[-1]
    assert journal.entry(first["id"]) == first and journal.entry(999) is None


def test_response_headers_are_kept_bounded_and_a_set_cookie_as_its_fingerprint():
    journal = Journal(limit=10)
    answered = exchange("t")
    answered.response_headers = {"content-type": "application/json", "set-cookie": "session=abc",
                                 **{f"x-{n}": "v" * 1500 for n in range(5)}}
    journal.record(answered)
    [entry] = journal.entries()
    headers = entry["responseHeaders"]
    assert headers["content-type"] == "application/json" and headers["set-cookie"] == f"fp:{fingerprint('session=abc')}"
    assert sum(len(name) + len(value) for name, value in headers.items()) <= 2048
    assert all(len(value) <= 1024 for value in headers.values())


def test_the_tenants_reached_since_an_entry_of_their_own_journals_and_the_bucket():
    journal = Journal(limit=5, in_use=lambda tenant_key: tenant_key != "fresh")
    journal.record(exchange("before"))
    mark = journal.last_seq
    for tenant in ("kept", "fresh", None, "kept"):
        journal.record(exchange(tenant))
    assert journal.tenants_since(mark) == {"kept", "fresh"}
    assert journal.tenants_since(0) == {"before", "kept", "fresh"}
    assert journal.tenants_since(journal.last_seq) == set()
