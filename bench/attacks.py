"""The engine's attacks of issue 13, each against a fresh `mock-runtype serve --quiet`: its RSS
growth, CPU time and open descriptors, and what a neighbour sees meanwhile. A prober sends
`GET /v1/records/{id}` of its own tenant every 5 ms on one keep-alive connection, each request
timed from when it was due (no coordinated omission: a stalled request counts its wait); a
newcomer opens a fresh connection every 100 ms and is timed from its connect to its answer (one
given up after 5 s counts as waiting longer than that). The attack runs in a process of its own,
so that its threads do not take the prober's GIL.

- `none`: no attack, for the neighbour's figures alone;
- `filter`: the 38 s filter: 40 records of a 450k-character field, then, one after another, a
  list whose `recordFilter` has 499 `contains` conditions (with `includeCount`) and the same
  filter as a bulk-edit dry run;
- `crlf`: 2,000 connections (the cap: with the prober's, the last wait in the listen backlog) each
  send `\\r\\n` every 2 s and never a request, those dropped opened again (opened all at once,
  the listen backlog of 1,024 filled faster than the server took them and the cap was never
  reached);
- `bodies`: 40 parallel `POST /v1/records` each declaring and sending 19 MiB (the limit is 1 MiB);
- `pipeline`: 10 connections each pipeline 4 MiB of `GET /openapi.json` and never read.

`python -m bench attacks` (or `python -m bench.attacks [crlf bodies pipeline]`); BENCH_ATTACK_S
(default 15) is how long each attack runs.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import socket
import sys
import threading
import time
from typing import Callable
from urllib.parse import quote

from bench.harness import HOST, Server, cpu_s, free_port, machine_line, percentile, request

ATTACK_S = float(os.environ.get("BENCH_ATTACK_S", "15"))
PROBE_EVERY_S = 0.005
NEWCOMER_EVERY_S = 0.1
NEWCOMER_TIMEOUT_S = 5.0
KEY = "rt_bench_neighbour"
MiB = 1024 * 1024
HOLDERS = 2000  # the CRLF attack's connections: the default cap


def prober(port: int, path: str, stop: threading.Event, latencies: list[float]) -> None:
    """Open loop on one connection: each request is due PROBE_EVERY_S after the last was due."""
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    due = time.perf_counter()
    while not stop.is_set():
        connection.request("GET", path, headers={"Authorization": f"Bearer {KEY}"})
        connection.getresponse().read()
        latencies.append(time.perf_counter() - due)
        due += PROBE_EVERY_S
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    connection.close()


def newcomers(port: int, stop: threading.Event, outcomes: list[float | None]) -> None:
    """A fresh connection and `GET /health` every 100 ms: its time, or None past NEWCOMER_TIMEOUT_S."""
    while not stop.is_set():
        started = time.perf_counter()
        try:
            status, _ = request(port, "GET", "/health", timeout=NEWCOMER_TIMEOUT_S)
            outcomes.append(time.perf_counter() - started if status == 200 else None)
        except OSError:
            outcomes.append(None)
        stop.wait(NEWCOMER_EVERY_S)


def in_threads(attacker: Callable[[], None], count: int, stop: threading.Event) -> None:
    """`count` attackers at once, until the part stops."""
    for _ in range(count):
        threading.Thread(target=attacker, daemon=True).start()
    stop.wait()


def crlf(port: int, stop: threading.Event) -> None:
    """Every 2 s, `\\r\\n` on each holder, and new ones for those dropped, up to HOLDERS open (a
    connect that waits past 1 s, the listen backlog full, ends that round's opening)."""
    holders: list[socket.socket] = []
    while not stop.is_set():
        round_ends = time.monotonic() + 2
        for sock in list(holders):
            try:
                sock.send(b"\r\n")
            except OSError:
                holders.remove(sock)
                sock.close()
        while len(holders) < HOLDERS and time.monotonic() < round_ends and not stop.is_set():
            try:
                holders.append(socket.create_connection((HOST, port), timeout=1))
            except OSError:
                break
        stop.wait(max(0.0, round_ends - time.monotonic()))
    for sock in holders:
        sock.close()


def heavy_filter(port: int, stop: threading.Event) -> None:
    """The records of `tests/hardening/test_heavy_filters.py`, then its two requests in turn."""
    from tests.hardening.test_heavy_filters import RECORDS, attack_filter, field_text  # one definition of it

    auth = {"Authorization": "Bearer rt_bench_attacker", "Content-Type": "application/json"}
    text = field_text()
    for number in range(RECORDS):
        request(port, "POST", "/v1/records", json.dumps(
            {"type": "doc", "name": f"d{number}", "metadata": {"notes": f"{text}{number}"}}).encode(), auth)
    where = attack_filter()
    listing = "/v1/records?includeCount=true&recordFilter=" + quote(json.dumps({"type": "doc", "where": where}))
    dry_run = json.dumps({"recordFilter": {"type": "doc", "where": where}, "updates": {"seen": True},
                          "dryRun": True}).encode()
    while not stop.is_set():
        for status, answer in (request(port, "GET", listing, headers=auth, timeout=120),
                               request(port, "POST", "/v1/records/bulk-edit", dry_run, auth, timeout=120)):
            if status != 200:
                raise SystemExit(f"the filter attack was answered {status}: {answer[:200]!r}")


def bodies(port: int, stop: threading.Event) -> None:
    chunk = b"x" * MiB

    def post() -> None:
        try:
            with socket.create_connection((HOST, port), timeout=30) as sock:
                sock.sendall(b"POST /v1/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer rt_bench_attacker\r\n"
                             b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (19 * MiB))
                for _ in range(19):
                    sock.sendall(chunk)
                sock.recv(1000)
                stop.wait()
        except OSError:
            pass

    in_threads(post, 40, stop)


def pipeline(port: int, stop: threading.Event) -> None:
    data = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * (4 * MiB // 40)

    def send() -> None:
        try:
            with socket.create_connection((HOST, port), timeout=ATTACK_S + 30) as sock:
                sock.sendall(data)
                stop.wait()
        except OSError:
            pass

    in_threads(send, 10, stop)


def none(port: int, stop: threading.Event) -> None:
    stop.wait()


ATTACKS = {"none": none, "filter": heavy_filter, "crlf": crlf, "bodies": bodies, "pipeline": pipeline}


def run(name: str) -> dict:
    port = free_port()
    server = Server("mock-runtype", [sys.executable, "-m", "mock_runtype", "serve", "--port", str(port), "--quiet"],
                    port).start()
    try:
        _, body = request(port, "POST", "/v1/records", json.dumps({"type": "t", "name": "probe"}).encode(),
                          {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
        path = f"/v1/records/{json.loads(body)['id']}"
        before = server.rss_mb()
        stop, quiet = multiprocessing.Event(), threading.Event()
        latencies: list[float] = []
        outcomes: list[float | None] = []
        probes = [threading.Thread(target=prober, args=(port, path, quiet, latencies)),
                  threading.Thread(target=newcomers, args=(port, quiet, outcomes))]
        for thread in probes:
            thread.start()
        time.sleep(1)
        latencies.clear()
        outcomes.clear()
        attack = multiprocessing.Process(target=ATTACKS[name], args=(port, stop), daemon=True)  # its own GIL
        attack.start()
        most, descriptors = before, 0
        cpu_before = cpu_s(server.process.pid)
        deadline = time.perf_counter() + ATTACK_S
        while time.perf_counter() < deadline:
            most = max(most, server.rss_mb())
            descriptors = max(descriptors, len(os.listdir(f"/proc/{server.process.pid}/fd")))  # its sockets and a few
            time.sleep(0.2)
        cpu = cpu_s(server.process.pid) - cpu_before
        quiet.set()
        for thread in probes:
            thread.join(NEWCOMER_TIMEOUT_S + 60)
        stop.set()
        attack.join(5)
        attack.kill()
    finally:
        server.stop()
    ordered = sorted(latencies)
    waits = sorted(float("inf") if outcome is None else outcome for outcome in outcomes)  # given up: the longest
    return {
        "attack": name, "rss_before_mb": round(before), "rss_most_mb": round(most), "descriptors_most": descriptors,
        "server_cpu_s": round(cpu, 2),
        "probe_p50_ms": round(percentile(ordered, 50) * 1000, 1), "probe_p99_ms": round(percentile(ordered, 99) * 1000, 1),
        "probe_max_ms": round(ordered[-1] * 1000, 1), "probes": len(ordered),
        "newcomers": len(waits), "newcomers_given_up": waits.count(float("inf")),
        "newcomer_p50_ms": round(percentile(waits, 50) * 1000, 1), "newcomer_p99_ms": round(percentile(waits, 99) * 1000, 1),
        "newcomer_max_ms": round(waits[-1] * 1000, 1) if waits else None,
    }


def shown(ms: float | None) -> str:
    """A newcomer's wait as the table writes it: one given up waited longer than the timeout."""
    return f">{NEWCOMER_TIMEOUT_S * 1000:g}" if ms == float("inf") else str(ms)


def main(names: list[str] | None = None) -> int:
    print(machine_line())
    print(f"each attack {ATTACK_S:g} s; prober every {PROBE_EVERY_S * 1000:g} ms, a newcomer every "
          f"{NEWCOMER_EVERY_S * 1000:g} ms (given up after {NEWCOMER_TIMEOUT_S:g} s)")
    print("| attack | RSS before → most (MB) | descriptors, most | server CPU (s) | prober p50 / p99 / max (ms) "
          "| newcomers p50 / p99 / max (ms) | newcomers given up / all |")
    print("|---|---|---|---|---|---|---|")
    for name in names or list(ATTACKS):
        row = run(name)
        print(f"| {name} | {row['rss_before_mb']} → {row['rss_most_mb']} | {row['descriptors_most']}"
              f" | {row['server_cpu_s']} | {row['probe_p50_ms']} / {row['probe_p99_ms']}"
              f" / {row['probe_max_ms']} | {shown(row['newcomer_p50_ms'])} / {shown(row['newcomer_p99_ms'])}"
              f" / {shown(row['newcomer_max_ms'])} | {row['newcomers_given_up']} / {row['newcomers']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
