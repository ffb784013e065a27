"""The bench's parsing of wrk's report (the bench itself runs with `make bench`, never in tests)."""

from bench.harness import parse_wrk

WRK_REPORT = """Running 2s test @ http://127.0.0.1:18091/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.80ms   14.79ms 113.72ms   92.59%
    Req/Sec   526.80    179.34   808.00     70.00%
  Latency Distribution
     50%  706.00us
     75%   10.26ms
     90%   18.14ms
     99%    1.20s
  2138 requests in 2.08s, 1.24MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   1029.69
Transfer/sec:    612.40KB
"""


def test_wrk_report_gives_rate_percentiles_in_ms_and_every_failure():
    cell = parse_wrk(WRK_REPORT)
    assert cell.rps == 1029.69
    assert cell.p50_ms == 0.706
    assert cell.p99_ms == 1200.0
    assert cell.requests == 2138
    assert cell.errors == 8


def test_settle_waits_for_a_busy_server_and_not_for_idle_ones():
    import subprocess
    import sys

    from bench.harness import Server, settle

    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 3.0\nwhile time.time() < end: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        servers = [Server("busy", [], 0, process=busy), Server("idle", [], 0, process=idle)]
        assert settle(servers[1:], most_s=5) < 1.0  # idle at once: one window
        waited = settle(servers, most_s=5)
        # Until the busy loop ended (3 s from its start), not the most: it takes well over 5% of a
        # core even on a loaded machine, so it is waited for at least a few windows.
        assert 0.5 <= waited < 5
    finally:
        busy.kill()
        idle.kill()
