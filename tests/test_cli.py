"""`mock-runtype` as a user runs it: a real process, its output, its exit status and signals;
`validate` checks fixture files, and `serve` refuses to start on a bad one."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from mock_runtype import __version__
from mock_runtype.cli import main
from tests.waiting import STOP_BOUND_S, wait_until

COMMAND = [str(Path(sys.executable).with_name("mock-runtype"))]
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_RUNTYPE_")}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(COMMAND + list(args), capture_output=True, text=True, timeout=20,
                          env={**CLEAN_ENV, **(env or {})})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_until_listening(port: int) -> None:
    """A subprocess's start: under the generous deadline of tests.waiting, not a fixed bet."""
    wait_until(lambda: listening(port), message=f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture(autouse=True)
def no_server_left_behind():
    """Kill any server a failing test did not stop."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


STARTED: list[subprocess.Popen] = []


def start_serving(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    process = subprocess.Popen(COMMAND + ["serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**CLEAN_ENV, **(env or {})})
    STARTED.append(process)
    return process


class Served:
    """`mock-runtype serve ARGS` on a free port: its URL once it listens, its output once stopped."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = start_serving("--port", "0", *args, env=env)
        self.earlier = ""  # the lines before the start-up line (warnings)
        for _ in range(20):
            self.first_line = self.process.stderr.readline()
            if not self.first_line or " listening on " in self.first_line:
                break
            self.earlier += self.first_line
        found = re.search(r"http://127\.0\.0\.1:\d+", self.first_line)
        if not found:
            self.process.kill()
            raise AssertionError(f"no URL in {self.first_line!r}: {self.process.stderr.read()}")
        self.url = found.group(0)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[float, int, str, str]:
        """Send `signum`; seconds until the process exited, its status, stdout and stderr."""
        started = time.monotonic()
        self.process.send_signal(signum)
        status = self.process.wait(timeout=20)
        elapsed = time.monotonic() - started
        return elapsed, status, self.process.stdout.read(), self.earlier + self.first_line + self.process.stderr.read()


def test_version_and_python_dash_m():
    assert run("--version").stdout.strip() == f"mock-runtype {__version__}"
    module = subprocess.run([sys.executable, "-m", "mock_runtype", "--version"], capture_output=True, text=True)
    assert module.stdout.strip() == f"mock-runtype {__version__}"


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"]])
def test_help(args):
    result = run(*args)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: mock-runtype")


def test_serve_help_names_every_flag_and_variable():
    from mock_runtype.config import OPTIONS

    text = " ".join(run("serve", "--help").stdout.split())
    for option in OPTIONS:
        assert option.flag in text and option.env in text


@pytest.mark.parametrize(("args", "env", "message"), [
    (["serve", "--port", "http"], {}, "mock-runtype serve: error: --port: must be a whole number from 0 to 65535"),
    (["serve"], {"MOCK_RUNTYPE_LOG_FORMAT": "xml"}, "mock-runtype serve: error: MOCK_RUNTYPE_LOG_FORMAT: must be one of"),
    (["serve", "--threads"], {}, "mock-runtype serve: error: argument --threads: expected one argument"),
    (["serve", "--no-such-flag"], {}, "mock-runtype: error: unrecognized arguments: --no-such-flag"),
    (["no-such-command"], {}, "mock-runtype: error: argument COMMAND: invalid choice: 'no-such-command'"),
    (["serve", "--admin-token-file", "/no/such/file"], {},
     "mock-runtype serve: error: --admin-token-file: cannot read /no/such/file: No such file or directory"),
])
def test_a_mistake_is_one_line_and_status_2(args, env, message):
    result = run(*args, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_port_in_use_is_one_line_and_status_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr == f"mock-runtype: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_at_once(signum):
    served = Served()
    assert requests.get(served.url + "/health", timeout=5).json()["status"] == "ok"
    elapsed, status, _, err = served.stop(signum)
    assert status == 0 and elapsed < STOP_BOUND_S, f"stopping took {elapsed:.2f} s"
    assert "did not stop in time" not in err
    assert f"stopping on {signal.Signals(signum).name}" in err and "Traceback" not in err


def test_access_log_and_startup_line():
    served = Served("--threads", "2", env={"MOCK_RUNTYPE_ADMIN_TOKEN": "admin-secret"})
    assert served.first_line.rstrip().endswith(f"INFO mock-runtype {__version__} listening on {served.url} (asyncio, 2 threads)")
    requests.post(served.url + "/v1/records", json={"type": "customer", "name": "Acme"},
                  headers={"Authorization": "Bearer rt_test_secret"}, timeout=5)
    requests.get(served.url + "/v1/records/missing", headers={"Authorization": "Bearer rt_test_secret"}, timeout=5)
    _, _, out, err = served.stop()
    lines = out.splitlines()
    # written as each answer completes, so two quick requests may be logged in either order
    assert sorted(line.split(" ")[1:4] for line in lines) == [["GET", "/v1/records/missing", "404"], ["POST", "/v1/records", "201"]]
    created, missing = sorted(lines, key=lambda line: line.split(" ")[1], reverse=True)
    assert re.fullmatch(r"\S+Z POST /v1/records 201 \d+\.\dms", created)
    assert re.fullmatch(r'\S+Z GET /v1/records/missing 404 \d+\.\dms tenant=fp:[0-9a-f]{12} error="[^"]+"', missing)
    assert "secret" not in out + err


def test_json_log_format_and_quiet():
    served = Served("--log-format", "json")
    requests.get(served.url + "/health", timeout=5)  # a health probe: not logged by default
    requests.get(served.url + "/openapi.json", timeout=5)
    _, _, out, err = served.stop()
    entry = json.loads(out)
    assert {k: entry[k] for k in ("level", "method", "path", "status")} == {
        "level": "info", "method": "GET", "path": "/openapi.json", "status": 200}
    assert [json.loads(line)["message"] for line in err.splitlines()][-1] == "stopping on SIGTERM"

    port = free_port()
    process = start_serving("--port", str(port), "--quiet")
    wait_until_listening(port)
    requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0  # only against a hang: the stop tests bound the time
    assert process.stdout.read() == "" and process.stderr.read() == ""


def test_the_startup_line_says_what_was_loaded():
    served = Served("--fixtures", str(FIXTURES / "demo.yaml"), "--fixtures", str(FIXTURES / "faults.yaml"))
    served.stop()
    assert re.search(r"\(asyncio, 4 threads\); loaded 2 fixture files \(\d+ tenants?, \d+ records?\) in \d+\.\d s$",
                     served.first_line.rstrip()), served.first_line


def test_quiet_with_port_0_still_names_the_url_and_nothing_else():
    served = Served("--quiet")
    assert requests.get(served.url + "/v1/records/x", timeout=5).status_code == 401
    _, status, out, err = served.stop()
    assert status == 0 and out == "" and err == served.first_line and not served.earlier


def test_a_long_load_tells_its_progress(monkeypatch):
    import mock_runtype.cli as cli
    import mock_runtype.server as server
    from mock_runtype.sandbox.core import Sandbox, SandboxSettings

    told = []
    monkeypatch.setattr(cli, "PROGRESS_AFTER_S", 0.02)
    monkeypatch.setattr(server.log, "info", lambda message, *args, **kwargs: told.append(message % args))
    monkeypatch.setattr(Sandbox, "load_files", lambda self, paths: time.sleep(0.5))
    _, loaded = cli.sandbox_with_fixtures(SandboxSettings(), [str(FIXTURES / "demo.yaml")])
    assert told and told[0].startswith("loading 1 fixture file (0.0 MB): ") and told[0].endswith(" s so far")
    assert loaded.files == 1 and loaded.seconds >= 0.5


def test_settings_reach_the_server():
    served = Served("--max-body-bytes", "100", env={"MOCK_RUNTYPE_CORS_ORIGIN": "https://app.example.com"})
    too_big = requests.post(served.url + "/v1/records", json={"type": "t", "name": "n" * 200},
                            headers={"Authorization": "Bearer k"}, timeout=5)
    preflight = requests.options(served.url + "/v1/records", timeout=5, headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
    served.stop()
    assert too_big.status_code == 413
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_validate_accepts_the_shipped_examples(capsys):
    assert main(["validate", *sorted(str(p) for p in FIXTURES.glob("*.yaml"))]) == 0
    assert "demo.yaml: ok (1 tenant, 3 records, 0 scenarios)" in capsys.readouterr().out


def test_validate_reports_one_line_per_problem_and_exits_1(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenants:\n  - apiKey: a\n    colour: red\n  - apiKey: a\n")
    missing = tmp_path / "missing.yaml"
    assert main(["validate", str(bad), str(missing)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{bad}:3: tenants[0].colour: unknown field: colour",
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


def test_a_mistyped_flag_names_the_closest_one():
    done = run("serve", "--prot", "9000")
    assert done.returncode == 2
    assert "unrecognized arguments: --prot 9000; did you mean --port?" in done.stderr


def test_an_unknown_variable_is_a_warning_naming_the_closest_one():
    served = Served(env={"MOCK_RUNTYPE_PROT": "9000", "MOCK_RUNTYPE_URL": "http://elsewhere"})
    _, _, _, err = served.stop()
    assert "WARNING MOCK_RUNTYPE_PROT is not a mock-runtype setting and is ignored: did you mean MOCK_RUNTYPE_PORT?" in err
    assert "MOCK_RUNTYPE_URL" not in err  # the pytest plugin's


@pytest.mark.parametrize("text, empty", [
    ("# nothing yet\n\n", True), ("\n" * 5000 + "   # still nothing\n\t\n", True), ("", True),
    ("records: []\n" + "# padding\n" * 1000, False), ("\n" * 5000 + "records: []\n", False),
    ("# a comment\u2028records: []\n", False),  # a line break to YAML, and to splitlines
])
def test_a_file_holds_nothing_when_it_has_only_blank_lines_and_comments(tmp_path, text, empty):
    from mock_runtype.cli import _holds_nothing

    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    assert _holds_nothing(str(path)) is empty


def test_validate_words_problems_in_line_order_and_flags_empty_files_and_tabs(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("records:\n  - tenant: k\n    type: 5\n  - tenant: k\n    type: t\n    name: n\n    colour: red\n"
                   "scenarios:\n  - name: s\n    when: {path: /x}\n    delayMs: 0\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n\n")
    tabbed = tmp_path / "tabbed.yaml"
    tabbed.write_text("tenants:\n\t- apiKey: k\n")
    assert main(["validate", str(bad), str(empty), str(tabbed)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}:2: records[0].name: 'name' is required",
        f"{bad}:3: records[0].type: must be a string",
        f"{bad}:7: records[1].colour: unknown field: colour",
        f"{bad}:11: scenarios[0].delayMs: must be at least 1",
        f"{empty}: the file is empty: it loads nothing",
        f"{tabbed}:2: YAML syntax error: a tab in the indentation (column 1): YAML indents with spaces only;"
        " replace the tab with spaces",
    ]


def test_serve_tunes_the_process_for_serving_before_it_loads(monkeypatch):
    """A process that is the server asks for the GIL sooner and gives large freed blocks back
    (`model/pacing.py`, `sandbox/heap.py`), before its fixtures are loaded."""
    import mock_runtype.cli as cli
    import mock_runtype.server as server

    done = []
    monkeypatch.setattr(cli, "prefer_short_waits", lambda: done.append("short waits"))
    monkeypatch.setattr(cli, "return_freed_memory", lambda: done.append("freed memory back"))
    monkeypatch.setattr(cli, "sandbox_with_fixtures", lambda settings, files: done.append("load") or (None, None))
    monkeypatch.setattr(cli, "freeze_long_lived", lambda: None)
    monkeypatch.setattr(server, "serve", lambda *args: 0)
    assert cli.main(["serve", "--port", "0", "--quiet"]) == 0
    assert done == ["freed memory back", "short waits", "load"]
