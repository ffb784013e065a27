"""The command line: `validate` checks fixture files; `serve` refuses to start on a bad one."""

from __future__ import annotations

from pathlib import Path

from mock_runtype.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_validate_accepts_the_shipped_examples(capsys):
    assert main(["validate", *sorted(str(p) for p in FIXTURES.glob("*.yaml"))]) == 0
    assert "demo.yaml: ok (1 tenants, 3 records, 0 scenarios)" in capsys.readouterr().out


def test_validate_reports_one_line_per_problem_and_exits_1(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenants:\n  - apiKey: a\n    colour: red\n  - apiKey: a\n")
    missing = tmp_path / "missing.yaml"
    assert main(["validate", str(bad), str(missing)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{bad}:3: tenants[0].colour: unknown field(s): colour",
        f"{missing}: cannot read the file: No such file or directory",
    ]


def test_serve_does_not_start_on_a_bad_fixture(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("records:\n  - {tenant: nobody, type: t, name: n}\n")
    monkeypatch.setenv("MOCK_RUNTYPE_FIXTURES", f"{FIXTURES / 'demo.yaml'},{bad}")
    assert main(["serve", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "not starting" in err and f"{bad}:2: records[0].tenant: unknown tenant 'nobody'" in err
    assert "Traceback" not in err
