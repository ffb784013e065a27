"""The command line: `mock-runtype serve | openapi`."""

from __future__ import annotations

import argparse
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
    return parser


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

        return serve(host=args.host, port=args.port, settings=Settings(check_responses=args.check_responses))
    if args.command == "openapi":
        return print_openapi()
    return 2


if __name__ == "__main__":
    sys.exit(main())
