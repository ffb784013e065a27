"""Who is calling: the token in `Authorization` names the tenant whose data a request sees.

Open mode (the default) accepts any non-empty token as a tenant of its own, with an
`organizationId` and `userId` derived from it. Strict mode accepts only registered keys.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

from mock_runtype.model.errors import Forbidden, Unauthenticated

READ = "read"
WRITE = "write"
ALL_PERMISSIONS = frozenset({READ, WRITE})


@dataclass(frozen=True)
class Tenant:
    """A caller's identity. `tenant_key`, the API key it calls with, is the key of its data partition."""

    tenant_key: str
    organization_id: str
    user_id: str
    permissions: frozenset[str] = field(default=ALL_PERMISSIONS)

    def require(self, permission: str) -> None:
        """Raise 403 unless the key carries `permission`."""
        if permission not in self.permissions:
            raise Forbidden(f"This API key does not have the '{permission}' permission for records")


def fingerprint(token: str) -> str:
    """A short, stable, non-reversible name for a token: safe to log and to show."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:12]


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

    def register(self, tenant: Tenant) -> None:
        with self._lock:
            self._registered[tenant.tenant_key] = tenant

    def unregister(self, tenant_key: str) -> None:
        """Forget a key: in open mode it is then a tenant like any other token, in strict mode a 401."""
        with self._lock:
            self._registered.pop(tenant_key, None)

    def get(self, tenant_key: str) -> Tenant | None:
        """The registered tenant with this key, if any."""
        return self._registered.get(tenant_key)

    def registered(self) -> list[Tenant]:
        with self._lock:
            return list(self._registered.values())

    def clear(self) -> None:
        with self._lock:
            self._registered.clear()

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
    """The tenant an unregistered token stands for in open mode: ids derived from the token."""
    digest = fingerprint(token)
    return Tenant(tenant_key=token, organization_id=f"org_{digest}", user_id=f"user_{digest}")
