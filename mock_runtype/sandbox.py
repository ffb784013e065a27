"""The sandbox: settings plus every piece of state a running server holds."""

from __future__ import annotations

from dataclasses import dataclass

from mock_runtype.clock import Clock, IdSource
from mock_runtype.executions import Executions
from mock_runtype.store import Store
from mock_runtype.tenancy import Tenancy

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024


@dataclass
class Settings:
    """What can be configured (flags, environment or fixtures)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    strict_auth: bool = False
    seed: int | None = None
    clock_start_ms: int | None = None
    check_responses: bool = False  # check every response against the OpenAPI document (500 on a mismatch)


class Sandbox:
    """State of one server: the store, flow executions over its records, who may call, the clock and the id source."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.clock = Clock(self.settings.clock_start_ms)
        self.ids = IdSource(self.settings.seed)
        self.store = Store(self.clock, self.ids)
        self.executions = Executions(self.store)
        self.tenancy = Tenancy(strict=self.settings.strict_auth)
