"""Per-call time through the SDK: the in-process mode (`mock_runtype.mock()`) against a server on
loopback (`LocalServer`), the same calls on the same sandbox contents.

    python -m bench.inprocess
"""

from __future__ import annotations

import sys
import time

from runtype import RuntypeClient

import mock_runtype
from bench.harness import machine_line
from mock_runtype.testing import LocalServer

KEY = "rt_bench_inprocess"
CALLS = 2000


def per_call_ms(client: RuntypeClient, calls: int = CALLS) -> dict[str, float]:
    """The best of three rounds, in ms per call, for a get, a create and a list page of 20."""
    record_id = client.records.create(type="bench", name="seed").id
    for n in range(40):
        client.records.create(type="page", name=f"r{n}")
    shapes = {
        "get": lambda n: client.records.get(record_id),
        "create": lambda n: client.records.create(type="bench", name=f"c{n}-{time.perf_counter_ns()}"),
        "list 20": lambda n: client.records.list_by_type("page", limit=20),
    }
    figures = {}
    for shape, call in shapes.items():
        call(0)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for n in range(calls // 3):
                call(n)
            best = min(best, (time.perf_counter() - started) / (calls // 3))
        figures[shape] = best * 1000
    return figures


def main() -> int:
    with mock_runtype.mock(), RuntypeClient(api_key=KEY) as client:
        inprocess = per_call_ms(client)
    with LocalServer() as server, RuntypeClient(api_key=KEY, base_url=server.url) as client:
        loopback = per_call_ms(client)
    print(machine_line())
    print(f"{'call (SDK, ergonomic layer)':<30}{'in-process ms':>15}{'loopback ms':>14}")
    for shape in inprocess:
        print(f"{shape:<30}{inprocess[shape]:>15.3f}{loopback[shape]:>14.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
