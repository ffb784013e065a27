"""Errors the sandbox answers with.

Each carries the HTTP status it stands for, the way moto's exceptions do, so the rules that raise
them need no web framework and `http/errors.py` is the one place that turns them into responses.
"""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """Base of every error answered to a client: a status, a message, optional details."""

    status = 500
    # The kind of contract violation this error means for the caller's code, or None. The pytest
    # plugin fails a test whose own requests were answered with one (see http/errors.py).
    violation: str | None = None

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body: `{"error": message}` plus details and any extra keys."""
        body: dict[str, Any] = {"error": self.message}
        if self.details:
            body["details"] = self.details
        body.update(self.extra)
        return body


class InvalidRequest(SandboxError):
    """The request is malformed or breaks a documented rule (400)."""

    status = 400
    violation = "validation"


class Unauthenticated(SandboxError):
    """No usable credentials (401)."""

    status = 401

    def __init__(self, message: str = "Unauthorized: missing or invalid API key", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="runtype"'})
        super().__init__(message, **kw)


class Forbidden(SandboxError):
    """Authenticated, but not allowed to do this (403)."""

    status = 403


class NotFound(SandboxError):
    """No such resource for this caller (404)."""

    status = 404


class Conflict(SandboxError):
    """The change would break a uniqueness rule (409)."""

    status = 409


class Unprocessable(SandboxError):
    """Well-formed, but the change it asks for would break a rule (422)."""

    status = 422


class QuotaExceeded(SandboxError):
    """A limit that protects the host is reached: records per tenant, or tenants (403)."""

    status = 403


class WorkLimitExceeded(SandboxError):
    """The request's estimated work is over the sandbox's work limit (400, naming it): a limit of
    the sandbox that protects its other tenants, not a rule of the API (no contract violation)."""

    status = 400

    def __init__(self, work: int, limit: int) -> None:
        super().__init__(
            f"This request's estimated work ({work:,} units) exceeds the work limit of {limit:,} units "
            "(--max-request-work): narrow its filter, or the records it covers",
            details=[{"path": "", "message": f"estimated work {work:,} is over {limit:,}"}],
            limit="maxRequestWork", maxRequestWork=limit, estimatedWork=work,
        )


class UnsupportedMediaType(SandboxError):
    """The body is not in a format this endpoint reads (415)."""

    status = 415
    violation = "validation"



class RateLimited(SandboxError):
    """Too many requests; `Retry-After` says when to try again (429)."""

    status = 429
