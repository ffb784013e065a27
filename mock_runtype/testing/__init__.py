"""Driving a sandbox from tests, in any framework (`helpers`), and the pytest plugin built on them."""

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

__all__ = ["AdminError", "Control", "ExpectedErrors", "LocalServer", "TenantControl", "Violation",
           "declared_tenants", "new_api_key"]
