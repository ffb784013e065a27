"""Driving a sandbox from tests, in any framework (`helpers`), the in-process mode (`inprocess`) and
the pytest plugin built on them."""

from mock_runtype.testing.helpers import (
    AdminError,
    Control,
    ExpectedErrors,
    LocalServer,
    TenantControl,
    Violation,
    declared_tenants,
    new_api_key,
)
from mock_runtype.testing.inprocess import InProcessMock, mock

__all__ = ["AdminError", "Control", "ExpectedErrors", "InProcessMock", "LocalServer", "TenantControl", "Violation",
           "declared_tenants", "mock", "new_api_key"]
