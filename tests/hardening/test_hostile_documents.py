"""Hostile YAML documents: alias bombs, recursive aliases and deep nesting are refused with a clear
problem, before anything expands them, on every way in (control API, `validate`, `serve --fixtures`).

The bombs run in a subprocess with a capped address space, so that on code that expands them the
subprocess fails (MemoryError, or killed) rather than the test run.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from mock_runtype.sandbox.fixtures import MIN_EXPANDED_NODES, FixtureError, parse_fixture
from tests.hardening.test_access import free_port, health
from tests.waiting import wait_until

# Generous for a Python process with the app imported and a few threads (~ 100-300 MiB), far below
# what expanding a 10^9-node bomb takes.
ADDRESS_SPACE = 1 << 30
YAML = {"Content-Type": "application/yaml"}


def bomb(levels: int = 9, width: int = 10) -> str:
    """Nine levels of ten aliases: about 700 bytes that name 10^9 nodes."""
    lines = ["description: &a0 [lol]"]
    for level in range(1, levels + 1):
        lines.append(f"x{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mock_runtype", *args], capture_output=True, text=True,
                          preexec_fn=capped, timeout=120)


@pytest.fixture(scope="module")
def capped_server():
    """A server in a subprocess whose address space is capped: a bomb that got expanded kills it."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "mock_runtype", "serve", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=capped)
    try:
        # a subprocess's start: polled under the generous deadline of tests.waiting
        wait_until(lambda: health(port, process), message="the server did not start")
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_bomb_would_expand_past_10_to_the_8_nodes():
    assert 10 ** 9 > 100 * max(MIN_EXPANDED_NODES, len(bomb())) and len(bomb()) < 800


@pytest.mark.parametrize("path", ["/__admin/fixtures", "/__admin/scenarios"])
def test_an_alias_bomb_is_a_400_naming_the_limit_and_the_server_lives(capped_server, path):
    url, process = capped_server
    answer = requests.post(url + path, data=bomb(), headers=YAML, timeout=60)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert f"it may expand to at most {MIN_EXPANDED_NODES} nodes" in body["details"][0]["message"]
    assert process.poll() is None
    assert requests.get(url + "/health", timeout=10).status_code == 200


@pytest.mark.parametrize("document, line", [
    ("description: &a [*a]\n", 1),
    ("tenants: []\nrecords:\n  - type: t\n    name: n\n    metadata: &m {self: *m}\n", 5),
    ("when: {method: GET}\nrespond: &r\n  status: 200\n  body: [1, {again: *r}]\n", 4),
])
def test_a_recursive_alias_is_a_400_naming_its_line(capped_server, document, line):
    url, _ = capped_server
    for path in ("/__admin/fixtures", "/__admin/scenarios"):
        answer = requests.post(url + path, data=document, headers=YAML, timeout=60)
        assert answer.status_code == 400, answer.text
        problem = answer.json()["details"][0]
        assert problem["line"] == line
        assert f"a recursive alias at line {line}" in problem["message"]


def test_deep_nesting_is_a_400_not_a_recursion_error(capped_server):
    url, _ = capped_server
    document = "records: " + "[" * 900 + "]" * 900 + "\n"
    answer = requests.post(url + "/__admin/fixtures", data=document, headers=YAML, timeout=60)
    assert answer.status_code == 400, answer.text
    assert "past the limit of 128" in answer.json()["details"][0]["message"]


@pytest.mark.parametrize("document, words", [
    (bomb(), f"it may expand to at most {MIN_EXPANDED_NODES} nodes"),
    ("description: &a [*a]\n", "a recursive alias at line 1"),
    ("records: " + "[" * 900 + "]" * 900 + "\n", "past the limit of 128"),
])
def test_validate_and_serve_say_one_line_and_exit_1(tmp_path: Path, document, words):
    path = tmp_path / "hostile.yaml"
    path.write_text(document)
    checked = run_cli("validate", str(path))
    assert checked.returncode == 1 and "Traceback" not in checked.stderr
    assert checked.stderr.startswith(f"{path}")
    assert words in checked.stderr and len(checked.stderr.strip().splitlines()) == 1
    served = run_cli("serve", "--port", str(free_port()), "--fixtures", str(path))
    assert served.returncode == 1 and "Traceback" not in served.stderr
    assert words in served.stderr


def test_a_bomb_is_refused_in_bounded_memory():
    code = ("import resource\n"
            "from mock_runtype.sandbox.fixtures import parse_fixture, FixtureError\n"
            "import sys; sys.path.insert(0, '.')\n"
            "from tests.hardening.test_hostile_documents import bomb\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n    parse_fixture(bomb(12))\nexcept FixtureError as error:\n    print(error)\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=capped,
                          timeout=120, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    problem, grown_mib = done.stdout.strip().splitlines()
    expanded = int(problem.split("expand the document to ")[1].split()[0])
    assert expanded > 10 ** 8, problem
    assert int(grown_mib) < 50  # parsing a 1 KiB document: anything near this means it expanded


def test_aliases_and_merge_keys_that_real_fixtures_use_still_load_with_their_lines():
    document = ("tenants:\n  - apiKey: rt_a\nrecords:\n"
                "  - {tenant: rt_a, type: t, name: one, metadata: &shared {plan: pro, tags: [a, b]}}\n"
                "  - {tenant: rt_a, type: t, name: two, metadata: *shared}\n"
                "  - tenant: rt_a\n    type: t\n    name: three\n    metadata: {<<: *shared, extra: 1}\n"
                "  - {tenant: rt_a, type: t, name: one, metadata: *shared}\n")
    with pytest.raises(FixtureError) as caught:
        parse_fixture(document)
    (problem,) = caught.value.problems
    assert (problem.line, problem.path) == (10, "records[3].name")
    fixture = parse_fixture(document.rsplit("  - {tenant", 1)[0])
    assert [r.fields["metadata"] for r in fixture.records][1:] == [
        {"plan": "pro", "tags": ["a", "b"]}, {"plan": "pro", "tags": ["a", "b"], "extra": 1}]
