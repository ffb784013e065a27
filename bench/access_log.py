"""What the access log costs: `mock-runtype serve` with its default access log against the same
with `--quiet`, create and get throughput loaded in turn (A B A B) with wrk.

    python -m bench.access_log [--in-process-only] [--duration S] [--rounds N] [--connections C]

First in this process, no server: the app's WSGI call for a GET of one record and a 404, with
and without the access log middleware writing to /dev/null, and the middleware alone around an app
that answers at once (this thread's CPU time: the wall clock of a shared machine mostly measures
the neighbours). Then two servers under wrk.

The goal (issue 13): with the access log on, within 10% of `--quiet`. The servers' stdout goes to
/dev/null, so what is measured is the log's own work (formatting and writing), not a terminal's.
Beside the rates, the server process's CPU time per request (from /proc): on a machine shared
with other work the rates mostly measure the neighbours, the CPU time much less so.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid

from bench.compare import API_KEY, prepare
from bench.harness import Server, cpu_s, free_port, machine_line, median, run_load

SERVERS = {"access log": [], "--quiet": ["--quiet"]}
OPERATIONS = ("create", "get")


def in_process_us(calls: int = 100, rounds: int = 100) -> dict[str, tuple[float, float]]:
    """µs a call of the app for a GET and a 404, without and with the access log."""
    import io
    import time
    import timeit

    from werkzeug.test import EnvironBuilder

    from mock_runtype.http.app import create_app
    from mock_runtype.sandbox.core import Sandbox
    from mock_runtype.serving import logs
    from mock_runtype.serving.adapter import _Dropping

    app = create_app(Sandbox())
    headers = {"Authorization": f"Bearer {API_KEY}"}
    created = app.test_client().post("/v1/records", json={"type": "bench", "name": "one"}, headers=headers)
    paths = {"get": f"/v1/records/{created.get_json()['id']}", "404": "/v1/records/rec_missing"}
    devnull = open(os.devnull, "w")
    logs.configure(out=devnull, err=devnull)
    try:
        figures = {}
        for shape, path in paths.items():
            base = EnvironBuilder(path=path, headers=headers).get_environ()
            calls_of = []
            for served in (_Dropping(app), logs.AccessLog(_Dropping(app))):
                def call(served=served) -> None:
                    environ = dict(base, **{"wsgi.input": io.BytesIO()})
                    body = served(environ, lambda status, headers, exc_info=None: None)
                    b"".join(body)
                    getattr(body, "close", lambda: None)()
                call()
                calls_of.append(call)
            spent: list[list[float]] = [[], []]
            for _ in range(rounds):  # short rounds in turn, so that a busy moment falls on both alike
                for index, call in enumerate(calls_of):
                    timer = timeit.Timer(call, timer=time.thread_time)
                    spent[index].append(timer.timeit(number=calls) / calls * 1e6)
            figures[shape] = (median(spent[0]), median(spent[1]))
        return figures
    finally:
        logs.configure()
        devnull.close()


def middleware_us(calls: int = 2000, rounds: int = 20) -> tuple[float, float]:
    """µs (CPU) of a call of a WSGI app that answers at once, without and with the access log:
    the log's own cost, with nothing of the app's around it."""
    import time
    import timeit

    from mock_runtype.serving import logs

    def app(environ: dict, start_response) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    logged = logs.AccessLog(app)
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/v1/records/6f1c2d3e-0000-4000-8000-000000000001",
            "QUERY_STRING": ""}

    def bare_call() -> None:
        b"".join(app(dict(base), lambda *a: None))

    def logged_call() -> None:
        body = logged(dict(base), lambda *a: None)
        b"".join(body)
        getattr(body, "close", lambda: None)()

    devnull = open(os.devnull, "w")
    logs.configure(out=devnull, err=devnull)
    try:
        spent = [min(timeit.Timer(call, timer=time.thread_time).repeat(rounds, calls)) / calls * 1e6
                 for call in (bare_call, logged_call)]
    finally:
        logs.configure()
        devnull.close()
    return spent[0], spent[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.access_log", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds a cell (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians count (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--in-process-only", action="store_true", help="only the in-process part")
    args = parser.parse_args(argv)
    print(machine_line(), flush=True)
    for shape, (bare, logged) in in_process_us().items():
        print(f"in process, {shape:4}: app {bare:6.1f} µs, with the access log {logged:6.1f} µs: the log costs "
              f"{logged - bare:+.1f} µs ({bare / logged:.1%} of the throughput without it)", flush=True)
    bare, logged = middleware_us()
    print(f"in process, the middleware alone (an app answering at once): {bare:.2f} µs bare, {logged:.2f} µs with "
          f"the access log: it costs {logged - bare:.1f} µs a request", flush=True)
    if args.in_process_only:
        return 0
    started = {}
    try:
        for name, extra in SERVERS.items():
            port = free_port()
            argv_ = [sys.executable, "-m", "mock_runtype", "serve", "--port", str(port), *extra]
            started[name] = Server(name, argv_, port).start()
        paths = {name: prepare(server) for name, server in started.items()}
        rates: dict[tuple[str, str], list[float]] = {}
        cpu_us: dict[tuple[str, str], list[float]] = {}
        run_id = uuid.uuid4().hex[:8]
        for round_number in range(1, args.rounds + 1):
            for operation in OPERATIONS:
                for name, server in started.items():
                    cell_id = f"{run_id}-{round_number}"
                    api_key = f"{API_KEY}_{cell_id}" if operation == "create" else API_KEY
                    before = cpu_s(server.process.pid)
                    cell = run_load(server.port, operation, args.connections, args.duration, path=paths[name],
                                    api_key=api_key, run_id=cell_id)
                    used = (cpu_s(server.process.pid) - before) / max(cell.requests, 1) * 1e6
                    rates.setdefault((name, operation), []).append(cell.rps)
                    cpu_us.setdefault((name, operation), []).append(used)
                    print(f"round {round_number} {operation:6} {name:10} {cell.rps:8.0f} req/s "
                          f"p99 {cell.p99_ms:6.2f} ms errors {cell.errors}, {used:5.0f} µs CPU a request", flush=True)
    finally:
        for server in started.values():
            server.stop()
    for operation in OPERATIONS:
        logged, quiet = median(rates[("access log", operation)]), median(rates[("--quiet", operation)])
        cpu_logged, cpu_quiet = median(cpu_us[("access log", operation)]), median(cpu_us[("--quiet", operation)])
        print(f"{operation:6} access log {logged:8.0f} req/s, --quiet {quiet:8.0f} req/s: {logged / quiet:.1%} of --quiet;"
              f" CPU {cpu_logged:.0f} against {cpu_quiet:.0f} µs a request: the log costs {cpu_logged - cpu_quiet:+.0f} µs"
              f" ({cpu_quiet / cpu_logged:.1%} of --quiet's throughput at equal CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
