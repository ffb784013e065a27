"""mock-runtype: a local, stateful sandbox of the Runtype Records API."""

__version__ = "0.1.0"
