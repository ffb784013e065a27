"""Side by side: mock-runtype and Prism (and, on request, mock-runtype under other WSGI servers),
loaded in turn (A B A B) with create, get and list at each connection count.

Configured by the environment (`make bench` passes its variables through):
BENCH_SERVERS (default `mock-runtype,prism,prism-quiet`; also `waitress-1`, `waitress-4`,
`granian-1`, `granian-4`, `gunicorn-8`), BENCH_DURATION seconds a cell (10), BENCH_ROUNDS (3),
BENCH_CONNECTIONS (`8,32`), PRISM (the prism executable; default: the bench cache's),
BENCH_BEFORE (a checkout of an earlier commit, `git worktree add DIR COMMIT`: the server
`mock-runtype-before` is that checkout's mock-runtype, run by this Python with its packages).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.harness import (ROOT, Cell, Server, free_port, load_generator, machine_line, median, request, run_load,
                           settle)

API_KEY = "rt_bench"
OPERATIONS = ("create", "get", "list")
LIST_PATH = "/v1/records?type=bench-list&limit=20"
PRISM_CACHE = Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "mock-runtype-bench"))
SEEDED_RECORDS = 10_000


def prism_executable() -> str | None:
    configured = os.environ.get("PRISM")
    if configured:
        return configured
    cached = PRISM_CACHE / "node_modules" / ".bin" / "prism"
    return str(cached) if cached.exists() else shutil.which("prism")


def server_argv(name: str, port: int, openapi_path: Path) -> list[str]:
    python = sys.executable
    if name == "mock-runtype":
        return [python, "-m", "mock_runtype", "serve", "--port", str(port)]
    if name == "mock-runtype-before":  # -P: not this checkout (the working directory) first, BENCH_BEFORE's
        return [python, "-P", "-m", "mock_runtype", "serve", "--port", str(port)]
    if name in ("prism", "prism-quiet"):
        quiet = ["-v", "error"] if name == "prism-quiet" else []
        return [prism_executable(), "mock", "-h", "127.0.0.1", "-p", str(port), *quiet, str(openapi_path)]
    engine, threads = name.rsplit("-", 1)
    return [python, "-m", "bench.engines", engine, "--threads", threads, "--port", str(port)]


def server_env(name: str) -> dict[str, str]:
    """What a server's environment adds: the earlier checkout's path for `mock-runtype-before`."""
    if name != "mock-runtype-before":
        return {}
    before = os.environ.get("BENCH_BEFORE")
    if not before:
        raise RuntimeError("mock-runtype-before needs BENCH_BEFORE, the directory of an earlier checkout")
    return {"PYTHONPATH": str(Path(before).resolve())}


def prepare(server: Server) -> str:
    """Records for get and list (100 of the listed type among 200); the path of the record to get."""
    if server.name.startswith("prism"):
        return "/v1/records/rec_bench"
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    target = None
    for number in range(200):
        record_type = "bench-list" if number % 2 else "bench-other"
        body = json.dumps({"type": record_type, "name": f"seed-{number}", "metadata": {"n": number, "industry": "tech"}})
        status, answer = request(server.port, "POST", "/v1/records", body.encode(), headers)
        assert status == 201, (status, answer[:200])
        target = json.loads(answer)["id"]
    return f"/v1/records/{target}"


DELAY_MS = 1000


def delay_probe(server: Server, path: str, in_flight: int) -> float:
    """The slowest of 10 quick GETs sent while `in_flight` requests sleep in a 1 s `delayMs`
    scenario: whether a simulated delay holds up the requests around it (ms)."""
    import threading

    scenario = {"name": f"bench-slow-{in_flight}", "when": {"path": f"/v1/records/slow-{in_flight}"}, "delayMs": DELAY_MS}
    status, answer = request(server.port, "POST", "/__admin/scenarios", json.dumps(scenario).encode(),
                             {"Content-Type": "application/json"})
    assert status == 201, answer
    headers = {"Authorization": f"Bearer {API_KEY}"}
    slow = [threading.Thread(target=request, args=(server.port, "GET", f"/v1/records/slow-{in_flight}", None, headers))
            for _ in range(in_flight)]
    for thread in slow:
        thread.start()
    time.sleep(0.1)
    worst = 0.0
    for _ in range(10):
        began = time.perf_counter()
        request(server.port, "GET", path, headers=headers)
        worst = max(worst, (time.perf_counter() - began) * 1000)
    for thread in slow:
        thread.join()
    return worst


def startup_times(name: str, openapi_path: Path, tries: int = 3, env: dict[str, str] | None = None,
                  argv_extra: list[str] | None = None) -> float:
    times = []
    for _ in range(tries):
        port = free_port()
        server = Server(name, server_argv(name, port, openapi_path) + (argv_extra or []), port,
                        env={**server_env(name), **(env or {})}).start()
        times.append(server.startup_s)
        server.stop()
    return median(times)


def seeded_fixture(directory: Path) -> Path:
    """A fixture document with SEEDED_RECORDS small records, to time a seeded start."""
    records = [{"tenant": API_KEY, "type": f"type-{n % 10}", "name": f"seeded-{n}",
                "metadata": {"n": n, "industry": ["tech", "retail", "health"][n % 3], "tier": "gold"}}
               for n in range(SEEDED_RECORDS)]
    path = directory / "seed-10k.json"
    path.write_text(json.dumps({"tenants": [{"apiKey": API_KEY}], "records": records}))
    return path


def main(kind: str = "compare") -> int:
    """Run the side-by-side bench; its report is saved as bench/results/<kind>-<time>.md."""
    names = [n.strip() for n in os.environ.get("BENCH_SERVERS", "mock-runtype,prism,prism-quiet").split(",") if n.strip()]
    duration = float(os.environ.get("BENCH_DURATION", "10"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    connections = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "8,32").split(",")]
    if any(n.startswith("prism") for n in names) and not prism_executable():
        print("Prism not found (make bench installs it with npm into the bench cache): comparing without it")
        names = [n for n in names if not n.startswith("prism")]
    notes = [f"machine: {machine_line()}",
             f"load generator: {load_generator()}" + ("" if load_generator() == "wrk" else
                                                    " (wrk is not installed: a Python generator, which saturates long before the servers do)"),
             f"{rounds} round(s) of {duration:g} s a cell, connections {connections}, servers in turn: {', '.join(names)}"]
    print("\n".join(notes), flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="mock-runtype-bench-"))
    openapi_path = workdir / "openapi.json"
    started: dict[str, Server] = {}
    results: dict[tuple[str, str, int], list[Cell]] = {}
    info: dict[str, dict[str, float]] = {}
    try:
        for name in names:
            if name.startswith("prism") and not openapi_path.exists():
                source = started.get("mock-runtype") or Server("mock-runtype", server_argv("mock-runtype", free_port(), openapi_path), 0)
                if source.process is None:
                    source.port = int(source.argv[-1])
                    source.start()
                openapi_path.write_bytes(request(source.port, "GET", "/openapi.json")[1])
                if "mock-runtype" not in started:
                    source.stop()
            try:
                info[name] = {"startup_s": startup_times(name, openapi_path)}
                port = free_port()
                started[name] = Server(name, server_argv(name, port, openapi_path), port, env=server_env(name)).start()
            except RuntimeError as error:
                if not name.startswith("prism"):
                    raise
                print(f"{name} could not be started ({error}): measured without it", flush=True)
                info.pop(name, None)
        names = [name for name in names if name in started]
        if "mock-runtype" in names:
            info["mock-runtype"]["startup_10k_s"] = startup_times(
                "mock-runtype", openapi_path, argv_extra=["--fixtures", str(seeded_fixture(workdir))])
        get_paths = {name: prepare(server) for name, server in started.items()}
        time.sleep(0.5)
        for name, server in started.items():
            info[name]["rss_idle_mb"] = server.rss_mb()
        run_id = uuid.uuid4().hex[:8]
        for round_number in range(1, rounds + 1):
            for operation in OPERATIONS:
                for count in connections:
                    for name, server in started.items():
                        path = get_paths[name] if operation == "get" else LIST_PATH
                        # Creates go to a tenant of their own per cell: a tenant holds at most
                        # 100k records, and three rounds of creates make more than that.
                        cell_id = f"{run_id}-{round_number}-{count}"
                        api_key = f"{API_KEY}_{cell_id}" if operation == "create" else API_KEY
                        settle(list(started.values()))
                        cell = run_load(server.port, operation, count, duration, path=path, api_key=api_key,
                                        run_id=cell_id)
                        results.setdefault((name, operation, count), []).append(cell)
                        print(f"round {round_number} {operation:6} c{count:<3} {name:14} {cell.rps:9.0f} req/s "
                              f"p50 {cell.p50_ms:6.2f} ms p99 {cell.p99_ms:7.2f} ms errors {cell.errors}", flush=True)
        for name, server in started.items():
            info[name]["rss_loaded_mb"] = server.rss_mb()
            if not name.startswith("prism"):
                for in_flight in (1, 4):
                    info[name][f"delay_probe_{in_flight}_ms"] = delay_probe(server, get_paths[name], in_flight)
    finally:
        for server in started.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report = render(names, connections, results, info, notes)
    print("\n" + report)
    save(kind, report, {"notes": notes, "info": info, "cells": {
        f"{n}|{o}|{c}": [cell.__dict__ for cell in cells] for (n, o, c), cells in results.items()}})
    return 0


def render(names, connections, results, info, notes) -> str:
    baseline = "prism" if "prism" in names else None
    lines = ["| server | operation | conns | req/s | p50 ms | p99 ms | × Prism | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for operation in OPERATIONS:
        for count in connections:
            prism_rps = median([c.rps for c in results.get((baseline, operation, count), [])]) if baseline else None
            for name in names:
                cells = results.get((name, operation, count), [])
                if not cells:
                    continue
                rps = median([c.rps for c in cells])
                ratio = f"{rps / prism_rps:.2f}" if prism_rps else "–"
                lines.append(f"| {name} | {operation} | {count} | {rps:,.0f} | {median([c.p50_ms for c in cells]):.2f} | "
                             f"{median([c.p99_ms for c in cells]):.2f} | {ratio} | {sum(c.errors for c in cells)} |")
    lines += ["", "| server | startup s (empty) | startup s (10k records) | RSS MB idle | RSS MB after load "
              "| slowest GET beside 1 / 4 delayed, ms |", "|---|---|---|---|---|---|"]
    for name in names:
        i = info[name]
        seeded = f"{i['startup_10k_s']:.2f}" if "startup_10k_s" in i else "–"
        probe = (f"{i['delay_probe_1_ms']:.0f} / {i['delay_probe_4_ms']:.0f}" if "delay_probe_1_ms" in i else "–")
        lines.append(f"| {name} | {i['startup_s']:.2f} | {seeded} | {i.get('rss_idle_mb', 0):.0f} | "
                     f"{i.get('rss_loaded_mb', 0):.0f} | {probe} |")
    lines += ["", "Medians over the rounds; p50/p99 as wrk reports them; errors: non-2xx answers and socket errors "
              "summed over the rounds (Prism answers every id and every duplicate, so its errors are 0 by design). "
              f"Slowest GET: the worst of 10 GETs of one record sent while 1 or 4 requests sleep in a {DELAY_MS} ms "
              "`delayMs` scenario (about 1000 means a delay holds up every request)."]
    return "\n".join(notes + [""] + lines)


def save(kind: str, report: str, raw: dict) -> None:
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (results / f"{kind}-{stamp}.md").write_text(report + "\n")
    (results / f"{kind}-{stamp}.json").write_text(json.dumps(raw, indent=1) + "\n")
    print(f"\nsaved bench/results/{kind}-{stamp}.md")


if __name__ == "__main__":
    sys.exit(main())
