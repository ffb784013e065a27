"""Per-call costs on mock-runtype's own payloads: what each added dependency buys.

    python -m bench.micro
"""

from __future__ import annotations

import json
import sys
import timeit

import fastjsonschema
import orjson

from bench.compare import save
from bench.harness import machine_line
from mock_runtype.model import validation
from mock_runtype.model.clock import format_timestamp
from mock_runtype.model.records import Record, record_to_json

CREATE_BODY = {"type": "customer", "name": "Acme Corp", "metadata": {"industry": "tech", "tier": "gold", "seats": 40}}


def per_call_us(function, number: int = 5000) -> float:
    function()
    return min(timeit.repeat(function, number=number, repeat=3)) / number * 1e6


def sample_page() -> dict:
    records = [Record(id=f"6f1c2d3e-0000-4000-8000-{n:012d}", seq=n, tenant_key="rt", user_id="user_a5b9fb12b78e",
                      organization_id="org_a5b9fb12b78e", type="customer", name=f"Acme {n}",
                      metadata={"industry": "tech", "tier": "gold", "seats": n, "region": "emea"}, messages=None,
                      owner_id=None, product_surface_id=None, created_at=1718010930000 + n, updated_at=1718010930000 + n)
               for n in range(20)]
    return {"data": [record_to_json(r) for r in records], "pagination": {"limit": 20, "hasMore": True}}


def main() -> int:
    page = sample_page()
    raw = json.dumps(CREATE_BODY).encode()
    create_validator = validation._validator("create-record")
    rows = [
        ("validate a create body: jsonschema, $refs resolved per call (before)",
         lambda: list(create_validator.iter_errors(CREATE_BODY))),
        ("validate a create body: fastjsonschema fast path, as shipped", lambda: validation.validate("create-record", CREATE_BODY)),
        ("write a 20-record list page: json.dumps (before)",
         lambda: json.dumps(page, ensure_ascii=False, separators=(",", ":")).encode()),
        ("write a 20-record list page: orjson.dumps, as shipped", lambda: orjson.dumps(page)),
        ("write one record: json.dumps (before)", lambda: json.dumps(page["data"][0], ensure_ascii=False, separators=(",", ":"))),
        ("write one record: orjson.dumps, as shipped", lambda: orjson.dumps(page["data"][0])),
        ("read a create body: json.loads (kept: it finds duplicate keys)", lambda: json.loads(raw)),
        ("format one timestamp (cached in record_to_json)", lambda: format_timestamp(1718010930123)),
    ]
    lines = [f"machine: {machine_line()}", "", "| call | µs |", "|---|---|"]
    for label, function in rows:
        lines.append(f"| {label} | {per_call_us(function):.2f} |")
    lines += ["", f"fastjsonschema {fastjsonschema.VERSION}, orjson {orjson.__version__}; best of 3 × 5000 calls."]
    report = "\n".join(lines)
    print(report)
    save("micro", report, {"rows": lines})
    return 0


if __name__ == "__main__":
    sys.exit(main())
