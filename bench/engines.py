"""mock-runtype's app under other WSGI servers, to measure the choice (the shipped server is
`mock-runtype serve`: its own engine, mock_runtype/serving/engine.py; waitress with 4 threads shipped before it).

    python -m bench.engines waitress --threads 1 --port 8090
    python -m bench.engines granian --threads 1 --port 8090
    python -m bench.engines gunicorn --threads 8 --port 8090

The app is the one `mock-runtype serve` builds: a fresh Sandbox (with the fixture files
BENCH_FIXTURES names, comma-separated) behind the access log (text, to stdout), its state frozen
out of the GC.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys

ENGINES = ("waitress", "granian", "gunicorn")


def build_app():
    from mock_runtype.serving import logs
    from mock_runtype.http.app import create_app
    from mock_runtype.sandbox.core import Sandbox

    logs.configure("text", False)
    sandbox = Sandbox()
    if os.environ.get("BENCH_FIXTURES"):
        sandbox.load_files(os.environ["BENCH_FIXTURES"].split(","))
    application = logs.AccessLog(create_app(sandbox))
    gc.freeze()
    return application


def run_waitress(port: int, threads: int) -> None:
    from waitress import serve

    serve(build_app(), host="127.0.0.1", port=port, threads=threads, ident="mock-runtype")


def run_granian(port: int, threads: int) -> None:
    from granian import Granian

    Granian("bench.engines:app", address="127.0.0.1", port=port, interface="wsgi", workers=1,
            blocking_threads=threads, log_enabled=False).serve()


def run_gunicorn(port: int, threads: int) -> None:
    argv = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1",
            "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
            "bench.engines:app"]
    os.execv(sys.executable, argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=ENGINES)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    {"waitress": run_waitress, "granian": run_granian, "gunicorn": run_gunicorn}[args.engine](args.port, args.threads)


def __getattr__(name: str):
    """`bench.engines:app`, built on first use (granian and gunicorn import it in their worker)."""
    if name == "app":
        globals()["app"] = build_app()
        return globals()["app"]
    raise AttributeError(name)


if __name__ == "__main__":
    main()
