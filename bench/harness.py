"""Starting servers on loopback, loading them with wrk (or a Python fallback), reading their memory."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "lua"
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, bytes]:
    """One request on a fresh connection: (status, body)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class Server:
    """A server process on a loopback port, with its startup time."""

    name: str
    argv: list[str]
    port: int
    process: subprocess.Popen | None = None
    startup_s: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = STARTUP_TIMEOUT_S

    def start(self) -> "Server":
        started = time.perf_counter()
        self.process = subprocess.Popen(self.argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env={**os.environ, **self.env}, start_new_session=True)
        deadline = started + self.startup_timeout_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode} before answering")
            try:
                if request(self.port, "GET", "/health", timeout=1)[0] == 200:
                    self.startup_s = time.perf_counter() - started
                    return self
            except OSError:
                pass
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer /health within {self.startup_timeout_s:g} s")

    def cpu_s(self) -> float:
        """CPU seconds (user and system) the process and its children have used."""
        return sum(cpu_s(pid) for pid in _tree(self.process.pid))

    def rss_mb(self) -> float:
        """Resident memory of the process and its children, in MB."""
        return sum(_rss_kb(pid) for pid in _tree(self.process.pid)) / 1024

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def cpu_s(pid: int) -> float:
    """The CPU seconds (user and system) a process has used: on a busy machine, steadier than its wall time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # gone meanwhile
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SETTLED_SHARE = 0.05  # of a core: a server using less is taken to be idle
SETTLE_WINDOW_S = 0.25


def settle(servers: list[Server], most_s: float = 10.0) -> float:
    """Wait until no server is still working off the last load (a loaded Node process can go on
    for a second or two), so that one cell's leftovers do not slow the next server's; the seconds
    waited (at most `most_s`)."""
    started = time.perf_counter()
    while time.perf_counter() - started < most_s:
        before = [server.cpu_s() for server in servers]
        time.sleep(SETTLE_WINDOW_S)
        if all(server.cpu_s() - used < SETTLED_SHARE * SETTLE_WINDOW_S for server, used in zip(servers, before)):
            break
    return time.perf_counter() - started


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    pids, stack = [], [root]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        stack.extend(children.get(pid, []))
    return pids


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Cell:
    """One load run's outcome."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def load_generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def run_load(port: int, operation: str, connections: int, duration_s: float, *, path: str,
             api_key: str, run_id: str) -> Cell:
    """Load one server with one operation: wrk when installed, else the Python generator."""
    if load_generator() == "wrk":
        return _run_wrk(port, operation, connections, duration_s, path, api_key, run_id)
    return _run_python(port, operation, connections, duration_s, path, api_key, run_id)


def _run_wrk(port: int, operation: str, connections: int, duration_s: float, path: str,
             api_key: str, run_id: str) -> Cell:
    argv = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration_s:g}s", "--latency", "--timeout", "5s"]
    if operation == "create":
        argv += ["-s", str(LUA / "create.lua"), f"http://{HOST}:{port}/", "--", run_id, api_key]
    else:
        argv += ["-H", f"Authorization: Bearer {api_key}", f"http://{HOST}:{port}{path}"]
    finished = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60)
    if "Requests/sec" not in finished.stdout:
        raise RuntimeError(f"wrk failed: {finished.stdout}{finished.stderr}")
    return parse_wrk(finished.stdout)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS_MS[unit]


def parse_wrk(output: str) -> Cell:
    """Requests/s, p50, p99 and the count of failed answers from wrk's `--latency` report."""
    percentiles = {int(p): _ms(v) for p, v in re.findall(r"^\s+(50|99)(?:\.\d+)?%\s+(\S+)", output, re.M)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Cell(rps=rps, p50_ms=percentiles[50], p99_ms=percentiles[99], errors=errors, requests=total)


def _run_python(port: int, operation: str, connections: int, duration_s: float, path: str,
                api_key: str, run_id: str) -> Cell:
    """A keep-alive client per connection, in threads (far slower than wrk: it measures less)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + duration_s

    def worker(number: int) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        mine, count, failed = [], 0, 0
        while time.perf_counter() < deadline:
            count += 1
            headers = {"Authorization": f"Bearer {api_key}"}
            body = None
            if operation == "create":
                headers["Content-Type"] = "application/json"
                body = json.dumps({"type": "bench-create", "name": f"{run_id}-{number}-{count}",
                                   "metadata": {"industry": "tech", "tier": "gold", "seats": count}}).encode()
            began = time.perf_counter()
            try:
                connection.request("POST" if operation == "create" else "GET",
                                   "/v1/records" if operation == "create" else path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                failed += response.status >= 400
            except OSError:
                failed += 1
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=5)
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Cell(rps=len(latencies) / elapsed, p50_ms=percentile(latencies, 50) * 1000,
                p99_ms=percentile(latencies, 99) * 1000, errors=errors[0], requests=len(latencies))


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine_line() -> str:
    """The machine and what else was running on it (load average), for the report."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    load = Path("/proc/loadavg").read_text().split()[:3]
    return f"{os.cpu_count()} CPUs ({cpu}), load average {' '.join(load)} at start"
