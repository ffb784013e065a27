"""`python -m bench [micro|compare|scaling|fairness|engines|attacks|fixture_load ...]`: the parts
named, in order (default: micro, compare, scaling, fairness). `engines` is `compare` over
mock-runtype under each WSGI server adapter; `fairness` is the head-of-line part (one tenant's
heavy requests, another's prober) on our engine and granian; `attacks` and `fixture_load` run only
when named."""

from __future__ import annotations

import os
import sys

ENGINE_SERVERS = "mock-runtype,waitress-1,waitress-4,granian-1,granian-4,gunicorn-8"


def main(parts: list[str]) -> int:
    from bench import attacks, compare, fairness, fixture_load, micro, scaling

    for part in parts or ["micro", "compare", "scaling", "fairness"]:
        print(f"\n=== bench {part} ===", flush=True)
        if part == "engines":
            os.environ.setdefault("BENCH_SERVERS", ENGINE_SERVERS)
            status = compare.main("engines")
        else:
            status = {"micro": micro.main, "compare": compare.main, "scaling": scaling.main,
                      "fairness": fairness.main, "attacks": attacks.main, "fixture_load": fixture_load.main}[part]()
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
