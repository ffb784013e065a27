"""The command line: `mock-runtype serve | validate FILE... | openapi | conformance | proxy`.

A subcommand is one function taking the parsed arguments and returning the exit status, declared
with `@command(name, help, arguments)`. Anything a user got wrong (a bad flag, a bad value, a file
that cannot be read) ends as one line on stderr and a non-zero status, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from dataclasses import dataclass
from typing import Callable

from mock_runtype import __version__
from mock_runtype.model.pacing import prefer_short_waits
from mock_runtype.sandbox.heap import bulk_load, freeze_long_lived, return_freed_memory

USAGE_ERROR = 2


class CommandError(Exception):
    """A failure to report as one line, ending the command with `status`."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that points to --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}{self._suggestion(message)} (see {self.prog} --help)\n")

    def _suggestion(self, message: str) -> str:
        """`; did you mean --port?` for a mistyped flag among the unrecognized arguments."""
        if not message.startswith("unrecognized arguments: "):
            return ""
        known = sorted(_flags(self))
        hints = []
        for given in message.split(": ", 1)[1].split():
            if given.startswith("--"):
                close = difflib.get_close_matches(given.split("=", 1)[0], known, n=1)
                if close:
                    hints.append(close[0])
        return f"; did you mean {', '.join(hints)}?" if hints else ""


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every long flag of `parser` and of its subcommands."""
    flags: set[str] = set()
    for action in parser._actions:
        flags.update(option for option in action.option_strings if option.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                flags |= _flags(subparser)
    return flags


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: list[Command] = []


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None):
    """Register the decorated `run(args) -> exit status` as subcommand `name`."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS.append(Command(name, help, arguments, run))
        return run

    return register


def serve_arguments(parser: argparse.ArgumentParser) -> None:
    from mock_runtype.config import OPTIONS

    for option in OPTIONS:
        text = f"{option.help} (env {option.env}; default {option.default_text})"
        if option.switch:
            parser.add_argument(option.flag, action="store_true", default=None, help=text)
        elif option.repeatable:
            parser.add_argument(option.flag, action="append", metavar=option.metavar, help=text)
        else:
            parser.add_argument(option.flag, metavar=option.metavar, help=text)


@command("serve", "run the sandbox server until SIGTERM or Ctrl-C", serve_arguments)
def serve(args: argparse.Namespace) -> int:
    from mock_runtype.config import OPTIONS, ConfigError, resolve, unknown_variables
    from mock_runtype.server import log, serve as run_server

    flags = {option.flag: getattr(args, option.flag[2:].replace("-", "_")) for option in OPTIONS}
    try:
        config = resolve(flags, os.environ)
    except ConfigError as error:
        raise CommandError(str(error), USAGE_ERROR) from None
    from mock_runtype.serving import logs

    logs.configure(config.server.log_format, config.server.quiet, log_health=config.server.log_health)
    for line in unknown_variables(os.environ):
        log.warning(line, extra={"fields": {"variable": line.split(" ", 1)[0]}})
    return_freed_memory()  # large passing blocks go back to the system once freed (see heap.py)
    prefer_short_waits()  # the loop thread waits less for the GIL beside a heavy request (see pacing.py)
    with bulk_load():  # the start is one bulk load, ended frozen without a collection (see heap.py)
        sandbox, loaded = sandbox_with_fixtures(config.sandbox, config.server.fixtures)
        state = None
        if config.server.state_file:
            from mock_runtype.server import StateFile

            state = StateFile(config.server.state_file, sandbox)
            try:
                state.load()
            except ValueError as error:
                raise CommandError(f"not starting: {error}") from None
        freeze_long_lived()  # what starting loaded, and what lasts, stays out of full collections
    return run_server(sandbox, config.server, loaded, state)


PROGRESS_AFTER_S = 2.0  # a load taking longer than this says so, and again every as long


def sandbox_with_fixtures(settings, fixture_files):
    """A Sandbox with the fixture files loaded, and what was loaded (None: no file); CommandError
    listing every problem if one is bad, so that the server does not start. A long load tells
    how long it has taken so far, every `PROGRESS_AFTER_S`."""
    import threading
    import time

    from mock_runtype.sandbox.core import Sandbox
    from mock_runtype.sandbox.fixtures import FixtureError
    from mock_runtype.server import Loaded, log

    sandbox = Sandbox(settings)
    files = list(fixture_files)
    if not files:
        return sandbox, None
    started = time.perf_counter()
    done = threading.Event()

    def tell_progress() -> None:
        size = sum(os.path.getsize(path) for path in files if os.path.isfile(path))
        while not done.wait(PROGRESS_AFTER_S):
            log.info("loading %d fixture file%s (%.1f MB): %.0f s so far", len(files), "" if len(files) == 1 else "s",
                     size / 1e6, time.perf_counter() - started,
                     extra={"fields": {"files": len(files), "bytes": size}})

    watcher = threading.Thread(target=tell_progress, name="mock-runtype-load-progress", daemon=True)
    watcher.start()
    try:
        sandbox.load_files(files)
    except FixtureError as error:
        raise CommandError(f"not starting, the fixtures have problems:\n{error}") from None
    finally:
        done.set()
        watcher.join()
    return sandbox, Loaded(len(files), sum(len(f.tenants) for f in sandbox.fixtures),
                           sum(len(f.records) for f in sandbox.fixtures), time.perf_counter() - started)


@command("validate", "check fixture files; exit 0 if all are valid, else 1",
         lambda parser: parser.add_argument("files", nargs="+", metavar="FILE"))
def validate(args: argparse.Namespace) -> int:
    """One line per problem on stderr; one line per valid file on stdout."""
    from mock_runtype.sandbox.fixtures import FixtureError, read_fixtures

    from mock_runtype.sandbox.fixtures import Problem

    problems = [Problem(path, None, "", "the file is empty: it loads nothing") for path in args.files
                if _holds_nothing(path)]
    fixtures = []
    try:
        with bulk_load():  # no collections while reading, as serving does: a 50k file took twice as long
            fixtures = read_fixtures(args.files)
    except FixtureError as error:
        problems += error.problems
    if problems:
        order = {path: index for index, path in enumerate(args.files)}
        problems.sort(key=lambda problem: order.get(problem.source, len(order)))  # stable: each file's in line order
        print("\n".join(str(problem) for problem in problems), file=sys.stderr)
        return 1
    for fixture in fixtures:
        print(f"{fixture.source}: ok ({counted(len(fixture.tenants), 'tenant')}, "
              f"{counted(len(fixture.records), 'record')}, {counted(len(fixture.scenarios), 'scenario')})")
    return 0


def counted(number: int, noun: str) -> str:
    """`1 tenant`, `10,000 records`: the number, and the noun in the plural unless it is one. Here,
    not in server.py, so that `validate` does not import the server (Flask, the app) to say it."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _holds_nothing(path: str) -> bool:
    """Whether the file has no YAML at all: only blank lines and comments (an unreadable file is
    left to the reading, which says why). Its first characters mostly tell: a first one that is
    neither blank nor `#` starts a line of YAML (a large fixture is not read twice whole)."""
    try:
        with open(path, encoding="utf-8") as file:
            start = file.read(4096).lstrip()
            if start and not start.startswith("#"):
                return False
            text = start + file.read()
    except (OSError, UnicodeDecodeError):
        return False
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


@command("openapi", "print the OpenAPI 3.1 document the server publishes at /openapi.json")
def openapi(args: argparse.Namespace) -> int:
    import json

    from mock_runtype.contract.openapi import build_document

    print(json.dumps(build_document(), indent=2, ensure_ascii=False))
    return 0


def conformance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, metavar="URL", help="the service's root URL (https://api.runtype.com)")
    parser.add_argument("--api-key", metavar="KEY", help="the key to call the target with (env MOCK_RUNTYPE_CONFORMANCE_KEY)")
    parser.add_argument("--cases", action="append", metavar="DIR", help="run the cases in DIR too (repeatable)")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only the case NAME (repeatable)")
    parser.add_argument("--no-shipped", action="store_true", help="leave out the cases shipped with mock-runtype")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON")
    parser.add_argument("--junit", metavar="FILE", help="write the report as JUnit XML")
    parser.add_argument("--i-understand-this-writes-to", metavar="HOST", dest="writes_to",
                        help="needed for a target that is not loopback: records are created and deleted on HOST")


@command("conformance", "run scripted cases against a target and a fresh sandbox; exit 1 on a difference",
         conformance_arguments)
def conformance(args: argparse.Namespace) -> int:
    from mock_runtype.conformance import report
    from mock_runtype.conformance.cases import CaseError, read_cases, shipped_cases
    from mock_runtype.conformance.runner import Run
    from mock_runtype.conformance.transport import HttpSide, host_of, is_loopback

    api_key = args.api_key or os.environ.get("MOCK_RUNTYPE_CONFORMANCE_KEY")
    if not api_key:
        raise CommandError("give --api-key (or MOCK_RUNTYPE_CONFORMANCE_KEY)", USAGE_ERROR)
    try:
        target = HttpSide(args.target, api_key)
    except ValueError as error:
        raise CommandError(str(error), USAGE_ERROR) from None
    host = host_of(args.target)
    if not is_loopback(args.target) and (args.writes_to or "").lower() != host:
        raise CommandError(f"{host} is not this machine, and the run creates and deletes records there;"
                           f" pass --i-understand-this-writes-to {host} to go on", USAGE_ERROR)
    try:
        cases = ([] if args.no_shipped else shipped_cases()) + [c for d in args.cases or [] for c in read_cases(d)]
    except CaseError as error:
        raise CommandError(str(error), USAGE_ERROR) from None
    if args.only:
        unknown = set(args.only) - {case.name for case in cases}
        if unknown:
            raise CommandError(f"no case named {', '.join(sorted(unknown))}", USAGE_ERROR)
        cases = [case for case in cases if case.name in args.only]
    if not cases:
        raise CommandError("no case to run", USAGE_ERROR)
    result = Run(target, cases, say=lambda line: print(line, file=sys.stderr, flush=True)).execute()
    print(report.text(result))
    for path, render in ((args.json, report.to_json), (args.junit, report.junit)):
        if path:
            with open(path, "w", encoding="utf-8") as out:
                out.write(render(result))
    if result.interrupted:
        return 130
    return 0 if result.ok else 1


def proxy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upstream", required=True, metavar="URL", help="the service to forward to (https://api.runtype.com)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="the port to listen on (default 8081; 0: any free one)")
    parser.add_argument("--threads", type=int, default=8, help="requests forwarded at once (default 8)")


@command("proxy", "forward every request to an upstream and check its answers against the sandbox's document",
         proxy_arguments)
def proxy(args: argparse.Namespace) -> int:
    from mock_runtype.conformance.proxy import Proxy, serve_proxy
    from mock_runtype.serving.adapter import ServerSettings

    try:
        app = Proxy(args.upstream)
    except ValueError as error:
        raise CommandError(str(error), USAGE_ERROR) from None
    if not 0 <= args.port <= 65535 or args.threads < 1:
        raise CommandError("--port must be 0-65535 and --threads at least 1", USAGE_ERROR)
    settings = ServerSettings(host=args.host, port=args.port, threads=args.threads)
    return serve_proxy(app, settings, lambda line: print(line, file=sys.stderr, flush=True))


def build_parser(command: str | None = None) -> ArgumentParser:
    """Every subcommand, each with its arguments; given the `command` to run, only its own are
    declared: serve's come from the server's settings, whose import brings Flask and the app,
    which `validate` (say) has no use for."""
    parser = ArgumentParser(
        prog="mock-runtype",
        description="A local, stateful sandbox of the Runtype Records API.",
        epilog="Every serve flag has an environment variable (shown in serve --help); a flag wins over it.",
    )
    parser.add_argument("--version", action="version", version=f"mock-runtype {__version__}")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in COMMANDS:
        subparser = subcommands.add_parser(entry.name, help=entry.help, description=entry.help)
        if command is None or entry.name == command:
            entry.arguments(subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    named = next((word for word in argv if not word.startswith("-")), None)  # the only options before it take no value
    args = build_parser(named if any(entry.name == named for entry in COMMANDS) else None).parse_args(argv)
    run = next(entry.run for entry in COMMANDS if entry.name == args.command)
    try:
        return run(args)
    except CommandError as error:
        print(f"mock-runtype {args.command}: error: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
