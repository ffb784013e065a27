"""The command line: `mock-runtype serve | openapi`."""

from __future__ import annotations

import argparse
import gc
import os
import sys

from mock_runtype import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mock-runtype", description="A local sandbox of the Runtype Records API.")
    parser.add_argument("--version", action="version", version=f"mock-runtype {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the sandbox server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    serve.add_argument("--check-responses", action="store_true",
                       help="check every response against the OpenAPI document; a mismatch is logged and answered 500")
    commands.add_parser("openapi", help="print the OpenAPI 3.1 document the server publishes at /openapi.json")
    add_fixture_arguments(serve)
    validate = commands.add_parser("validate", help="check fixture files; exit 0 if all are valid, else 1")
    validate.add_argument("files", nargs="+", metavar="FILE")
    return parser


def add_fixture_arguments(parser: argparse.ArgumentParser) -> None:
    """`--fixtures` (repeatable; MOCK_RUNTYPE_FIXTURES) and `--admin-token` (MOCK_RUNTYPE_ADMIN_TOKEN)."""
    parser.add_argument("--fixtures", action="append", metavar="FILE",
                        help="a fixture file to load at start (repeatable; default: MOCK_RUNTYPE_FIXTURES, comma-separated)")
    parser.add_argument("--admin-token", default=os.environ.get("MOCK_RUNTYPE_ADMIN_TOKEN") or None,
                        help="require this token on /__admin (default: MOCK_RUNTYPE_ADMIN_TOKEN; none: open)")


def sandbox_from_arguments(args: argparse.Namespace, settings=None):
    """The Sandbox to serve, with its fixtures loaded; None (after printing every problem) if a
    fixture is bad, so that the server does not start."""
    from mock_runtype.fixtures import FixtureError, fixture_paths, read_fixtures
    from mock_runtype.sandbox import Sandbox, Settings

    settings = settings or Settings()
    settings.admin_token = args.admin_token
    sandbox = Sandbox(settings)
    try:
        for fixture in read_fixtures(fixture_paths(args.fixtures, os.environ.get("MOCK_RUNTYPE_FIXTURES"))):
            sandbox.load(fixture)
    except FixtureError as error:
        print(f"mock-runtype: not starting, the fixtures have problems:\n{error}", file=sys.stderr)
        return None
    gc.freeze()  # the loaded state stays out of full collections (shorter pauses; see perf notes)
    return sandbox


def validate_files(paths: list[str]) -> int:
    """`mock-runtype validate`: one line per problem on stderr; 0 if every file is valid, else 1."""
    from mock_runtype.fixtures import FixtureError, read_fixtures

    try:
        fixtures = read_fixtures(paths)
    except FixtureError as error:
        print(error, file=sys.stderr)
        return 1
    for fixture in fixtures:
        print(f"{fixture.source}: ok ({len(fixture.tenants)} tenants, {len(fixture.records)} records,"
              f" {len(fixture.scenarios)} scenarios)")
    return 0


def print_openapi() -> int:
    """`mock-runtype openapi`: the document, as GET /openapi.json answers it."""
    import json

    from mock_runtype.openapi import build_document

    print(json.dumps(build_document(), indent=2, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from mock_runtype.sandbox import Settings
        from mock_runtype.server import serve

        sandbox = sandbox_from_arguments(args, Settings(check_responses=args.check_responses))
        return 1 if sandbox is None else serve(host=args.host, port=args.port, sandbox=sandbox)
    if args.command == "validate":
        return validate_files(args.files)
    if args.command == "openapi":
        return print_openapi()
    return 2


if __name__ == "__main__":
    sys.exit(main())
