"""Allows `python -m mock_runtype`."""

from mock_runtype.cli import main

raise SystemExit(main())
