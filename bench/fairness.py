"""Head-of-line blocking: how long a small request of one tenant waits while another tenant sends
heavy requests, on our engine and on the same app under granian (issue 13).

Tenant A holds 100k records (a fixture loaded at start) and sends one heavy request after another
on one connection: a `recordFilter` list that walks every record, the field values of a field of
every record, a bulk-edit dry run that tests every record. Meanwhile a prober on tenant B sends
`GET /v1/records/{id}` every 5 ms, open loop: each probe has a scheduled send time, goes out on
any free connection of a small pool, and its latency is measured from the scheduled time, so a
stalled server is charged for every probe it kept waiting (no coordinated omission). Every server
loads the same fixture at start; then they take turns cell by cell (A B A B), idle while the
others are measured.

Configured by the environment: BENCH_HOL_SERVERS (`mock-runtype,granian-4`), BENCH_HOL_DURATION
seconds a cell (8), BENCH_ROUNDS (2), BENCH_HOL_RECORDS (100000).
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

from bench.harness import HOST, Server, free_port, machine_line, percentile, request
from bench.compare import save, server_argv

HEAVY_KEY, PROBE_KEY = "rt_hol_heavy", "rt_hol_probe"
PROBE_INTERVAL_S = 0.005
PROBE_CONNECTIONS = 8
WARMUP_S = 0.5
STARTUP_TIMEOUT_S = 600  # loading 100k records takes 6 s on a quiet machine, ten times that on a busy one
INDUSTRIES = ("tech", "retail", "health", "finance", "energy")
# The filter walks every record (no record has this word) and counts them all.
NO_MATCH = {"field": "notes", "op": "contains", "value": "zebra-none"}
HEAVY = {
    "none": None,
    "recordFilter list": ("GET", "/v1/records?limit=20&includeCount=true&recordFilter="
                          + quote(json.dumps({"type": "lead", "where": NO_MATCH}, separators=(",", ":"))), None),
    "field-values": ("GET", "/v1/records/field-values?type=lead&field=industry&limit=10", None),
    "bulk-edit dry run": ("POST", "/v1/records/bulk-edit", json.dumps(
        {"recordFilter": {"type": "lead", "where": NO_MATCH}, "updates": {"seen": True}, "dryRun": True}).encode()),
}


def fixture(directory: Path, records: int) -> Path:
    """A's records, and B's one record (the prober's), as one fixture document."""
    rows = [{"tenant": HEAVY_KEY, "type": "lead", "name": f"lead-{n}",
             "metadata": {"n": n, "industry": INDUSTRIES[n % 5], "tier": "gold" if n % 3 else "silver",
                          "notes": f"customer {n} asked about pricing and renewal"}} for n in range(records)]
    rows.append({"tenant": PROBE_KEY, "id": "rec_probe", "type": "t", "name": "probe", "metadata": {"x": 1}})
    path = directory / f"hol-{records}.json"
    path.write_text(json.dumps({"tenants": [{"apiKey": HEAVY_KEY}, {"apiKey": PROBE_KEY}], "records": rows}))
    return path


def start(name: str, fixture_path: Path) -> Server:
    port = free_port()
    argv = server_argv(name, port, Path("unused"))
    if name == "mock-runtype":
        argv += ["--fixtures", str(fixture_path)]
    server = Server(name, argv, port, env={"BENCH_FIXTURES": str(fixture_path)}, startup_timeout_s=STARTUP_TIMEOUT_S)
    server.start()
    status, _ = request(port, "GET", "/v1/records/rec_probe", headers={"Authorization": f"Bearer {PROBE_KEY}"})
    if status != 200:
        server.stop()
        raise RuntimeError(f"{name}: the probe record is not there ({status})")
    return server


def heavy_loop(port: int, call: tuple[str, str, bytes | None], stop: threading.Event, times: list[float]) -> None:
    """A's heavy request, one after another on one connection, each one's own time kept."""
    method, path, body = call
    headers = {"Authorization": f"Bearer {HEAVY_KEY}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    while not stop.is_set():
        began = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path[:60]}: {response.status}")
        times.append(time.perf_counter() - began)
    connection.close()


def probe(port: int, duration_s: float) -> list[float]:
    """Latencies (s) of B's GETs, each from its scheduled send time, one every PROBE_INTERVAL_S."""
    due: queue.Queue[float | None] = queue.Queue()
    latencies: list[tuple[float, float]] = []
    lock = threading.Lock()

    def sender() -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=120)
        headers = {"Authorization": f"Bearer {PROBE_KEY}"}
        while (scheduled := due.get()) is not None:
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            connection.request("GET", "/v1/records/rec_probe", headers=headers)
            response = connection.getresponse()
            response.read()
            latency = time.perf_counter() - scheduled
            with lock:
                latencies.append((scheduled, latency))
        connection.close()

    senders = [threading.Thread(target=sender) for _ in range(PROBE_CONNECTIONS)]
    for thread in senders:
        thread.start()
    began = time.perf_counter() + 0.05
    count = int(duration_s / PROBE_INTERVAL_S)
    for number in range(count):
        scheduled = began + number * PROBE_INTERVAL_S
        # Hand each probe over just before its time, so a free sender takes it then (a late one
        # goes as soon as a sender is free, and is charged from its scheduled time).
        pause = scheduled - 0.002 - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due.put(scheduled)
    for _ in senders:
        due.put(None)
    for thread in senders:
        thread.join()
    return [latency for scheduled, latency in latencies if scheduled >= began + WARMUP_S]


def cell(server: Server, kind: str, duration_s: float) -> tuple[list[float], list[float]]:
    """(probe latencies, heavy request times) of one run of `kind` beside the prober."""
    stop, times = threading.Event(), []
    heavy = None
    if HEAVY[kind] is not None:
        heavy = threading.Thread(target=heavy_loop, args=(server.port, HEAVY[kind], stop, times))
        heavy.start()
        time.sleep(0.2)
    try:
        latencies = probe(server.port, duration_s)
    finally:
        stop.set()
        if heavy is not None:
            heavy.join()
    return latencies, times


def main() -> int:
    names = [n.strip() for n in os.environ.get("BENCH_HOL_SERVERS", "mock-runtype,granian-4").split(",") if n.strip()]
    duration = float(os.environ.get("BENCH_HOL_DURATION", "8"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    records = int(os.environ.get("BENCH_HOL_RECORDS", "100000"))
    notes = [f"machine: {machine_line()}",
             f"{rounds} round(s), {duration:g} s a cell, tenant A {records:,} records, prober every "
             f"{PROBE_INTERVAL_S * 1000:g} ms on {PROBE_CONNECTIONS} connections, servers in turn: {', '.join(names)}"]
    print("\n".join(notes), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="mock-runtype-hol-"))
    probes: dict[tuple[str, str], list[float]] = {}
    heavy_times: dict[tuple[str, str], list[float]] = {}
    servers: dict[str, Server] = {}
    try:
        path = fixture(workdir, records)
        starting = [threading.Thread(target=lambda n=name: servers.__setitem__(n, start(n, path))) for name in names]
        for thread in starting:  # the loads run side by side
            thread.start()
        for thread in starting:
            thread.join()
        if len(servers) != len(names):
            raise RuntimeError("a server did not start: " + ", ".join(n for n in names if n not in servers))
        for round_number in range(1, rounds + 1):
            for kind in HEAVY:
                for name in names:
                    latencies, times = cell(servers[name], kind, duration)
                    probes.setdefault((name, kind), []).extend(latencies)
                    heavy_times.setdefault((name, kind), []).extend(times)
                    ms = sorted(x * 1000 for x in latencies)
                    print(f"round {round_number} {name:12} {kind:18} probe p50 {percentile(ms, 50):6.1f} "
                          f"p99 {percentile(ms, 99):6.1f} max {ms[-1]:6.1f} ms"
                          + (f"  heavy {statistics.median(times) * 1000:6.0f} ms x{len(times)}" if times else ""),
                          flush=True)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report = render(names, probes, heavy_times, notes)
    print("\n" + report)
    save("fairness", report, {"notes": notes, "probes_ms": {f"{n}|{k}": summary(v) for (n, k), v in probes.items()},
                              "heavy_ms": {f"{n}|{k}": summary(v) for (n, k), v in heavy_times.items()}})
    return 0


def summary(seconds: list[float]) -> dict[str, float]:
    """A cell's latencies as the results file keeps them: the figures, not every sample."""
    ms = sorted(x * 1000 for x in seconds)
    if not ms:
        return {"count": 0}
    return {"count": len(ms), "p50": round(percentile(ms, 50), 2), "p99": round(percentile(ms, 99), 2),
            "max": round(ms[-1], 2)}


def render(names, probes, heavy_times, notes) -> str:
    header = "| A's heavy request | " + " | ".join(f"{n}: its own time · B's GET p50 / p99 / max" for n in names) + " |"
    lines = [header, "|---|" + "---|" * len(names)]
    for kind in HEAVY:
        cells = []
        for name in names:
            ms = sorted(x * 1000 for x in probes.get((name, kind), []))
            times = heavy_times.get((name, kind), [])
            own = f"{statistics.median(times) * 1000:.0f} ms · " if times else ""
            cells.append(f"{own}{percentile(ms, 50):.1f} / {percentile(ms, 99):.1f} / {ms[-1]:.1f} ms" if ms else "–")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += ["", "B's GET latency is measured from its scheduled send time (open loop, one every "
              f"{PROBE_INTERVAL_S * 1000:g} ms), pooled over the rounds; A's own time is the median of its heavy requests."]
    return "\n".join(notes + [""] + lines)


if __name__ == "__main__":
    sys.exit(main())
