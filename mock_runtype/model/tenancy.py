"""Who is calling: the token in `Authorization` names the tenant whose data a request sees.

Data belongs to a user (organization + user), not to a key: every key registered for one user
reaches the same partition, each with its own permissions. Open mode (the default) accepts any
other non-empty token as a user of its own, with an `organizationId` and `userId` derived from
it, whose partition is the token itself. Strict mode accepts only registered keys.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from functools import lru_cache

from mock_runtype.model.errors import Forbidden, Unauthenticated

READ = "read"
WRITE = "write"  # create and change records; deleting them takes DELETE
DELETE = "delete"
ALL_PERMISSIONS = frozenset({READ, WRITE, DELETE})


@lru_cache(maxsize=4096)
def user_partition(organization_id: str | None, user_id: str) -> str:
    """The partition key of a registered user's data. It holds a space, which no token can, so
    no open-mode key ever names a registered user's partition. (Remembered: every request and
    every seeded record asks, and the JSON it is made of costs a few µs each time.)"""
    return "user " + json.dumps([organization_id, user_id], separators=(",", ":"))


@dataclass(frozen=True)
class Tenant:
    """A caller's identity: the API key it calls with, the user it acts for and what the key may do.
    `tenant_key` is the key of its data partition: the user's (`user_partition`) for a registered
    key, the API key itself for an open-mode one."""

    api_key: str
    organization_id: str | None
    user_id: str
    permissions: frozenset[str] = field(default=ALL_PERMISSIONS)
    registered: bool = True

    @property
    def tenant_key(self) -> str:
        return user_partition(self.organization_id, self.user_id) if self.registered else self.api_key

    def require(self, permission: str) -> None:
        """Raise 403 unless the key carries `permission`."""
        if permission not in self.permissions:
            raise Forbidden(f"This API key does not have the '{permission}' permission for records")


REMEMBERED_TOKEN_CHARS = 256  # tokens at most this long have their fingerprint and open tenant remembered


def fingerprint(token: str) -> str:
    """A short, stable, non-reversible name for a token: safe to log and to show. (Remembered for
    the tokens of everyday length: the journal and the access log ask on every request.)"""
    return _remembered_fingerprint(token) if len(token) <= REMEMBERED_TOKEN_CHARS else _fingerprint(token)


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:12]


_remembered_fingerprint = lru_cache(maxsize=4096)(_fingerprint)


def token_from_header(header: str | None) -> str:
    """`Bearer <token>` or a bare `<token>` -> the token; missing or empty -> 401."""
    if header is None:
        raise Unauthenticated("Unauthorized: missing Authorization header")
    value = header.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    if not value or " " in value:
        raise Unauthenticated("Unauthorized: missing or malformed API key")
    return value


class Tenancy:
    """The registry of known tenants, and the rule for unknown tokens."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self._lock = threading.Lock()
        self._registered: dict[str, Tenant] = {}
        self._partitions: dict[str, list[Tenant]] = {}  # tenant_key -> the registered keys reaching it

    def register(self, tenant: Tenant) -> None:
        with self._lock:
            if self._registered.get(tenant.api_key) == tenant:
                return  # as it was: it keeps its place among its user's keys
            self._drop(tenant.api_key)
            self._registered[tenant.api_key] = tenant
            self._partitions[tenant.tenant_key] = [*self._partitions.get(tenant.tenant_key, ()), tenant]

    def unregister(self, api_key: str) -> None:
        """Forget a key: in open mode it is then a tenant like any other token, in strict mode a 401."""
        with self._lock:
            self._drop(api_key)

    def _drop(self, api_key: str) -> None:
        old = self._registered.pop(api_key, None)
        if old is not None:
            kept = [t for t in self._partitions[old.tenant_key] if t.api_key != api_key]
            if kept:
                self._partitions[old.tenant_key] = kept
            else:
                del self._partitions[old.tenant_key]

    def get(self, api_key: str) -> Tenant | None:
        """The registered tenant with this key, if any."""
        return self._registered.get(api_key)

    def partition_of(self, api_key: str) -> str:
        """The `tenant_key` of the data a key reaches: its user's when registered, else its own.
        Takes no lock: the journal and the scenarios ask while holding theirs."""
        tenant = self._registered.get(api_key)
        return tenant.tenant_key if tenant is not None else api_key

    def keys_of(self, tenant_key: str) -> list[Tenant]:
        """The registered keys that reach the partition `tenant_key`, in the order registered.
        Takes no lock (one lookup of a list that is replaced, never changed)."""
        return list(self._partitions.get(tenant_key, ()))

    def registered(self) -> list[Tenant]:
        with self._lock:
            return list(self._registered.values())

    def clear(self) -> None:
        with self._lock:
            self._registered.clear()
            self._partitions.clear()

    def authenticate(self, authorization: str | None) -> Tenant:
        """The tenant an `Authorization` header names, or 401."""
        token = token_from_header(authorization)
        tenant = self._registered.get(token)
        if tenant is not None:
            return tenant
        if self.strict:
            raise Unauthenticated("Unauthorized: invalid API key")
        return open_tenant(token)


def open_tenant(token: str) -> Tenant:
    """The tenant an unregistered token stands for in open mode: ids derived from the token
    (remembered like its fingerprint: a Tenant is immutable)."""
    return _remembered_open_tenant(token) if len(token) <= REMEMBERED_TOKEN_CHARS else _open_tenant(token)


def _open_tenant(token: str) -> Tenant:
    digest = fingerprint(token)
    return Tenant(api_key=token, organization_id=f"org_{digest}", user_id=f"user_{digest}", registered=False)


_remembered_open_tenant = lru_cache(maxsize=4096)(_open_tenant)
