"""The command line: `mock-runtype serve`."""

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from mock_runtype.server import serve

        return serve(host=args.host, port=args.port)
    return 2


if __name__ == "__main__":
    sys.exit(main())
