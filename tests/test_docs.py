"""Every code block of README.md and docs/*.md runs, as the reader would run it.

Each fenced block is one test, named by its page and line (`test_block[docs/pytest.md:42]`):

- ```python runs in a fresh namespace against a sandbox of its own (`LocalServer`, with responses
  checked); a `print(...)  # expected` line must print that. A block announced as a test file
  (`<!-- file: test_x.py -->`) is run by pytester instead, and all its tests must pass.
- ```sh / ```bash / ```console (prompts `$ ` stripped; other lines are its output) run in bash
  with `set -euo pipefail`, `mock-runtype` on PATH, against a sandbox of their own.
- ```yaml is a fixture document: it must load through `parse_fixture` (and into the sandbox).
- ```json must parse. ```text is output shown to the reader, not code.

In python and shell blocks, `http://127.0.0.1:8080` and `localhost:8080` are rewritten to the
block's sandbox, and after the block that sandbox's journal must hold no contract violation (a
400, 415, unknown route or 405 the caller's request caused) and no 5xx a scenario did not answer.

Directives: HTML comments on the lines right above a fence (visible in the page's source):

- `<!-- not run: REASON -->`  the block is not run (docker, make, pip ...); a reason is required
- `<!-- file: NAME -->`       the block is also written as NAME into every block's directory
- `<!-- sandbox: FILE ... -->` the block's sandbox first loads these fixture files (repository paths)
- `<!-- expect errors: REASON -->` the block's requests may be contract violations
- `<!-- not a fixture: REASON -->` a ```yaml block that is checked as YAML only (a CI workflow)

Every block runs in a new temporary directory holding the page's `file:` blocks and links to the
repository's `fixtures/`, `schemas/` and the running interpreter's `bin/` as `.venv/bin`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from mock_runtype.sandbox.core import SandboxSettings
from mock_runtype.sandbox.fixtures import parse_fixture
from mock_runtype.testing import Control, LocalServer

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = {"sh", "bash", "shell", "console"}
RUN = {"python", "yaml", "json", *SHELLS}
SHOWN = {"text"}
DIRECTIVE = re.compile(r"^<!--\s*(not run|file|sandbox|expect errors|not a fixture):\s*(.*?)\s*-->$")
FENCE = re.compile(r"^```(\S*)(.*)$")
LOCAL_URL = re.compile(r"(?:https?://)?(?:127\.0\.0\.1|localhost):8080")


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    lines = page.read_text("utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        directives, above = {}, i - 1
        while above >= 0 and (d := DIRECTIVE.match(lines[above].strip())):
            directives[d.group(1)] = d.group(2)
            above -= 1
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        found.append(Block(page, i + 1, opening.group(1), "\n".join(lines[i + 1:end]) + "\n", directives))
        i = end + 1
    return found


BLOCKS = [block for page in PAGES for block in blocks_of(page)]


def page_files(page: Path) -> dict[str, str]:
    return {b.directives["file"]: b.code for b in BLOCKS if b.page == page and "file" in b.directives}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A directory like a checkout's top, but empty of anything a block could overwrite."""
    for name in ("fixtures", "schemas"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def sandbox():
    with LocalServer(SandboxSettings(check_responses=True)) as running:
        yield running


def on_sandbox(code: str, url: str) -> str:
    return LOCAL_URL.sub(lambda m: url if m.group(0).startswith("http") else url.removeprefix("http://"), code)


def check_journal(block: Block, control: Control) -> None:
    entries = control.call("GET", "/requests")["requests"]
    if LOCAL_URL.search(block.code) and "/v1/" in block.code:
        assert entries, f"{block.name}: the block sent the sandbox nothing"
    if "expect errors" not in block.directives:
        violations = [f"{e['method']} {e['path']} -> {e['status']}: {e['response']}" for e in entries if e["violation"]]
        assert not violations, f"{block.name}: contract violations (mark the block `expect errors: ...`?)"
    broken = [e for e in entries if (e["status"] or 0) >= 500 and not e["scenarios"]]
    assert not broken, f"{block.name}: the sandbox failed: {broken}"


def run_python(block: Block, sandbox: LocalServer) -> None:
    code = on_sandbox(block.code, sandbox.url)
    expected = [m.group(1).strip() for m in re.finditer(r"^\s*print\(.*\)\s+#\s*(.+)$", code, re.M)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, block.name, "exec"), {"__name__": "__docs__"})
    if expected:
        assert out.getvalue().splitlines() == expected


def run_shell(block: Block, sandbox: LocalServer, workdir: Path) -> None:
    code = on_sandbox(block.code, sandbox.url)
    if block.lang == "console":
        code = "\n".join(line[2:] for line in code.splitlines() if line.startswith("$ ")) + "\n"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{block.name} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"


def run_test_file(block: Block, pytester: pytest.Pytester) -> None:
    for name, text in page_files(block.page).items():
        pytester.path.joinpath(name).write_text(text)
    tests = len(re.findall(r"^def test_", block.code, re.M))
    result = pytester.runpytest("-p", "no:cacheprovider", block.directives["file"])  # a page may hold several
    result.assert_outcomes(passed=tests)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_block(block: Block, request: pytest.FixtureRequest) -> None:
    if "not run" in block.directives:
        assert block.directives["not run"], f"{block.name}: say why the block is not run"
        pytest.skip(f"not run: {block.directives['not run']}")
    assert block.lang in RUN | SHOWN, f"{block.name}: a block needs a language ({sorted(RUN | SHOWN)})"
    if block.lang in SHOWN:
        return
    if block.lang == "json":
        json.loads(block.code)
        return
    if block.lang == "yaml":
        if "not a fixture" in block.directives:
            assert block.directives["not a fixture"] and yaml.safe_load(block.code) is not None
            return
        parse_fixture(block.code, block.name)
        sandbox = request.getfixturevalue("sandbox")
        Control(sandbox.url).load_fixtures(block.code)
        return
    if block.lang == "python" and block.directives.get("file", "").startswith("test_"):
        run_test_file(block, request.getfixturevalue("pytester"))
        return
    workdir, sandbox = request.getfixturevalue("workdir"), request.getfixturevalue("sandbox")
    for name, text in page_files(block.page).items():
        (workdir / name).write_text(text)
    control = Control(sandbox.url)
    for path in block.directives.get("sandbox", "").split():
        control.load_fixtures(ROOT / path)
    if block.lang == "python":
        run_python(block, sandbox)
    else:
        run_shell(block, sandbox, workdir)
    check_journal(block, control)


def test_every_page_is_linked_from_the_readme_and_in_the_nav():
    readme = (ROOT / "README.md").read_text("utf-8")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text("utf-8"))
    assert (config["site_name"], config["docs_dir"]) == ("mock-runtype", "docs")

    def listed(nav):
        for item in nav:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from listed(value) if isinstance(value, list) else [value]

    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert sorted(listed(config["nav"])) == pages
    assert [p for p in pages if f"](docs/{p})" not in readme] == []


def test_the_readme_stays_short_and_keeps_its_test_command():
    readme = (ROOT / "README.md").read_text("utf-8")
    assert len(readme.encode()) <= 12288
    assert "make test" in readme


def test_every_block_that_is_not_run_says_why():
    skipped = [b for b in BLOCKS if "not run" in b.directives]
    assert all(b.directives["not run"] for b in skipped)
    assert len([b for b in BLOCKS if "not run" not in b.directives and b.lang in RUN]) > len(skipped)


def test_the_site_builds_strictly(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                             "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
