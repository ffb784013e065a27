"""A large fixture, loaded: how long `mock-runtype serve --fixtures FILE` takes to answer /health,
the server's RSS then (per record, beside the same records created over the API), and how long
`mock-runtype validate FILE` takes. The fixture (JSON and YAML, with the same records) is made in a
temporary directory.

`python -m bench fixture_load`; BENCH_FIXTURE_RECORDS (default 100000) sets its size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import harness
from bench.harness import ROOT, Server, cpu_s, free_port, machine_line, request

RECORDS = int(os.environ.get("BENCH_FIXTURE_RECORDS", "100000"))
API_KEY = "rt_fixture_bench"
API_RECORDS = 10_000  # created one by one over the API, for the per-record figure beside the fixture's


def record(number: int) -> dict:
    return {"type": "customer" if number % 10 == 0 else f"type-{number % 7}", "name": f"record-{number}",
            "metadata": {"industry": ("tech", "retail", "health")[number % 3], "tier": "gold", "seats": number % 500,
                         "region": f"r{number % 13}", "tags": ["a", "b"],
                         "contact": {"email": f"u{number}@example.com", "phone": "555-0100"}}}


def write_fixtures(directory: Path, records: int) -> dict[str, Path]:
    import yaml

    document = {"tenants": [{"apiKey": API_KEY}],
                "records": [{"tenant": API_KEY, **record(number)} for number in range(records)]}
    paths = {"json": directory / "big.json", "yaml": directory / "big.yaml"}
    paths["json"].write_text(json.dumps(document))
    paths["yaml"].write_text(yaml.dump(document, sort_keys=False, Dumper=getattr(yaml, "CSafeDumper", yaml.Dumper)))
    return paths


def serve(path: Path | None) -> tuple[float, float, Server]:
    """The seconds to a /health answer and the RSS (MB) then, of a server loading `path`."""
    port = free_port()
    argv = [sys.executable, "-m", "mock_runtype", "serve", "--port", str(port), "--quiet"]
    server = Server("mock-runtype", argv + (["--fixtures", str(path)] if path else []), port).start()
    return server.startup_s, server.rss_mb(), server


def over_the_api(records: int) -> float:
    """RSS (MB) per record created over the API, one request each."""
    _, empty_rss, server = serve(None)
    try:
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        for number in range(records):
            request(server.port, "POST", "/v1/records", json.dumps(record(number)).encode(), headers)
        return (server.rss_mb() - empty_rss) / records
    finally:
        server.stop()


def main() -> int:
    harness.STARTUP_TIMEOUT_S = 600  # the load is what is measured: on a busy machine it may take long
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="mock-runtype-fixture-") as directory:
        paths = write_fixtures(Path(directory), RECORDS)
        _, empty_rss, empty = serve(None)
        empty.stop()
        print(f"{RECORDS} records; an empty server: {empty_rss:.0f} MB")
        print("| fixture | size (MB) | serve: ready (s; its CPU s) | RSS (MB) | per record (KB) | validate (s; its CPU s) |")
        print("|---|---|---|---|---|---|")
        for kind, path in paths.items():
            ready, rss, server = serve(path)
            ready_cpu = cpu_s(server.process.pid)
            server.stop()
            started, cpu = time.perf_counter(), os.times()
            subprocess.run([sys.executable, "-m", "mock_runtype", "validate", str(path)], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            validated = time.perf_counter() - started
            validated_cpu = os.times().children_user - cpu.children_user + os.times().children_system - cpu.children_system
            print(f"| {kind} | {path.stat().st_size / 1e6:.1f} | {ready:.2f}; {ready_cpu:.2f} | {rss:.0f} |"
                  f" {(rss - empty_rss) * 1024 / RECORDS:.2f} | {validated:.2f}; {validated_cpu:.2f} |", flush=True)
    print(f"over the API ({API_RECORDS} records, one request each): {over_the_api(API_RECORDS) * 1024:.2f} KB a record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
