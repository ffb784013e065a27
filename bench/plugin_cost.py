"""What the pytest plugin's fixtures cost a test: generated suites of 50 and 550 tests taking
`runtype_mock` alone, or `runtype_client`, each run by pytest in a child process; the cost per
test is the slope between the two sizes (so pytest's start-up and collection cancel out).

    python -m bench.plugin_cost [--rounds N]

The goal (issue 16): a test taking `runtype_client` within 3 ms of one taking `runtype_mock`.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.harness import machine_line

SIZES = (50, 550)
FIXTURES = ("runtype_mock", "runtype_client")


def write_suite(folder: Path, fixture: str, tests: int) -> Path:
    """A test file of `tests` tests, each taking `fixture` and doing nothing else."""
    path = folder / f"test_{fixture}_{tests}.py"
    path.write_text("".join(f"def test_{n}({fixture}):\n    pass\n\n\n" for n in range(tests)), encoding="utf-8")
    return path


def run_seconds(path: Path) -> float:
    """CPU seconds (user and system) of one pytest run of `path` (xdist and the cache off), which
    must pass. CPU time rather than wall time: on a shared 2-core machine the wall clock mostly
    measures the neighbours; the plugin's server runs in the same process, so its work counts."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "--rootdir", str(path.parent), str(path)], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{path.name} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plugin_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each suite; the fastest counts (default 3)")
    args = parser.parse_args(argv)
    print(machine_line(), flush=True)
    slopes = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for fixture in FIXTURES:
            best = {size: min(run_seconds(write_suite(folder, fixture, size)) for _ in range(args.rounds))
                    for size in SIZES}
            slopes[fixture] = (best[SIZES[1]] - best[SIZES[0]]) / (SIZES[1] - SIZES[0]) * 1000
            print(f"{fixture:15} {SIZES[0]} tests {best[SIZES[0]]:.2f} s, {SIZES[1]} tests {best[SIZES[1]]:.2f} s CPU:"
                  f" {slopes[fixture]:.2f} ms a test", flush=True)
    extra = slopes["runtype_client"] - slopes["runtype_mock"]
    print(f"runtype_client costs {extra:.2f} ms a test more than runtype_mock (goal: at most 3 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
