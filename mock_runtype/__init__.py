"""mock-runtype: a local, stateful sandbox of the Runtype Records API."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`mock_runtype.mock`, imported on first use so that the server never loads the testing layer."""
    if name == "mock":
        from mock_runtype.testing.inprocess import mock

        return mock
    raise AttributeError(f"module 'mock_runtype' has no attribute {name!r}")
