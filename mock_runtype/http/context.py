"""What the layers of the app learn about one request, carried in its WSGI environ under one key.

The interception plans a request once (`mock_runtype.http.interception`): the scenarios' outcome,
how long to hold it, whether it is heavy enough to leave the server's event loop. The Flask hooks,
the error handlers and the access log read and add to that one typed object instead of each
keeping a loose environ key of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mock_runtype.contract.operations import Operation
from mock_runtype.sandbox.exchange import Exchange
from mock_runtype.sandbox.scenarios import Outcome

KEY = "mock_runtype.context"


@dataclass
class RequestContext:
    """One request's plan and what its answer turned out to be."""

    exchange: Exchange | None  # None for the control API, which scenarios and the journal do not see
    outcome: Outcome | None
    heavy: bool  # its estimated cost is over the budget: a server should answer it off its event loop
    received_at: float = field(default_factory=time.perf_counter)
    held: bool = False  # the server has already held the request for `delay_s` (without a thread)
    violation: str | None = None  # the kind of contract violation its error answer stands for
    contract_warning: str | None = None  # what of the request the answer ignored (unknown fields)
    work: int = 0  # its estimated work, in record visits (`mock_runtype.contract.operations`)
    body: bytes | None = None  # the whole body, when the interception read it before the app
    operation: Operation | None = None  # the one the registry finds at its method and path (`operation_at`)

    @property
    def delay_s(self) -> float:
        return self.outcome.delay_ms / 1000 if self.outcome is not None and self.outcome.delay_ms else 0.0

    @property
    def answered_by_scenario(self) -> bool:
        """A scenario answers instead of the API (a deliberate answer, outside the contract)."""
        return self.outcome is not None and self.outcome.answers


def context_of(environ: dict[str, Any]) -> RequestContext | None:
    """The request's context, once the interception has planned it."""
    return environ.get(KEY)


def attach(environ: dict[str, Any], context: RequestContext) -> RequestContext:
    environ[KEY] = context
    return context
