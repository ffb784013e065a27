"""API keys to data partitions: a registered user's shared by its keys, an open-mode key's its own."""

from __future__ import annotations

import pytest

from mock_runtype.model.errors import Forbidden, Unauthenticated
from mock_runtype.model.tenancy import READ, WRITE, Tenancy, Tenant, token_from_header


def test_keys_of_one_user_reach_one_partition_and_keep_their_permissions():
    tenancy = Tenancy()
    writer = Tenant("w", "org", "alice", frozenset({READ, WRITE}))
    reader = Tenant("r", "org", "alice", frozenset({READ}))
    tenancy.register(writer)
    tenancy.register(reader)
    tenancy.register(Tenant("b", "org", "bob"))
    assert tenancy.partition_of("w") == tenancy.partition_of("r") != tenancy.partition_of("b")
    assert tenancy.keys_of(tenancy.partition_of("r")) == [writer, reader]
    with pytest.raises(Forbidden, match="'delete'"):
        tenancy.authenticate("Bearer w").require("delete")
    tenancy.unregister("w")
    assert tenancy.partition_of("w") == "w" and tenancy.keys_of(reader.tenant_key) == [reader]


def test_no_token_names_a_registered_users_partition():
    tenancy = Tenancy()
    tenancy.register(Tenant("k", "org", "alice"))
    partition = tenancy.partition_of("k")
    with pytest.raises(Unauthenticated):
        token_from_header(f"Bearer {partition}")
    assert Tenant("x", None, "a/b").tenant_key != Tenant("y", "a", "b").tenant_key  # ids may hold any character


def test_a_fingerprint_is_the_same_for_a_token_of_any_length():
    import hashlib

    from mock_runtype.model.tenancy import REMEMBERED_TOKEN_CHARS, fingerprint, open_tenant

    for token in ("rt_short", "k" * (REMEMBERED_TOKEN_CHARS + 1), "caf\u00e9"):
        expected = hashlib.sha256(token.encode()).hexdigest()[:12]
        assert fingerprint(token) == fingerprint(token) == expected
        assert open_tenant(token).user_id == f"user_{expected}"
        assert open_tenant(token) == open_tenant(token)
