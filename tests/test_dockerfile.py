"""The Dockerfile, checked without a Docker engine.

The instructions are parsed (BuildKit's own parser, PyPI `dockerfile`) and linted (hadolint), and
the image is emulated: the build context is the tree minus `.dockerignore`, a wheel is built from
it and installed into a fresh venv as the build stage does, and exactly the ENTRYPOINT + CMD runs
with the declared ENV, as user 10001, as PID 1 of its own PID and network namespaces (as root;
otherwise as a plain process on a free port). Its HEALTHCHECK command runs in the same network
namespace, a record is created through it, and SIGTERM must stop it at once.
Deselect with `-m "not docker"`.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dockerfile
import pytest

from tests.waiting import DEADLINE_S, STOP_BOUND_S

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTIONS = dockerfile.parse_file(str(ROOT / "Dockerfile"))


def stages() -> list[list[dockerfile.Command]]:
    """The instructions grouped by stage, each starting with its FROM."""
    grouped: list[list[dockerfile.Command]] = []
    for instruction in INSTRUCTIONS:
        if instruction.cmd == "FROM":
            grouped.append([])
        grouped[-1].append(instruction)
    return grouped


FINAL = stages()[-1]


def final(cmd: str) -> list[dockerfile.Command]:
    return [i for i in FINAL if i.cmd == cmd]


def declared_env() -> dict[str, str]:
    """The final stage's ENV, in order, `$NAME` expanded as the builder would."""
    env: dict[str, str] = {}
    for instruction in final("ENV"):
        pairs = instruction.value
        for name, value in zip(pairs[::2], pairs[1::2]):
            env[name] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), "$" + m.group(1)), value)
    return env


def command_line() -> list[str]:
    (entrypoint,), (cmd,) = final("ENTRYPOINT"), final("CMD")
    return list(entrypoint.value) + list(cmd.value)


def healthcheck() -> list[str]:
    (check,) = final("HEALTHCHECK")
    assert check.value[0] == "CMD"
    return list(check.value[1:])


def build_context() -> list[str]:
    """The files `COPY . .` sends: the tree's files (tracked or not ignored) minus .dockerignore."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    return sorted(path for path in listed if (ROOT / path).is_file() and not ignored(path, patterns))


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore `patterns` exclude `path` (a pattern naming a directory excludes its
    contents; `**` spans directories; the last matching pattern wins, `!` re-includes)."""
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.lstrip("!").strip("/")
        regex = "".join(
            ".*" if part == "**" else "[^/]*" if part == "*" else "[^/]" if part == "?" else re.escape(part)
            for part in re.split(r"(\*\*|\*|\?)", body)
        ).replace(".*/", "(.*/)?")
        if re.fullmatch(f"{regex}(/.*)?", path):
            excluded = not negated
    return excluded


def test_both_stages_use_one_official_slim_python_image():
    bases = [stage[0].value[0] for stage in stages()]
    assert len(bases) == 2, "a build stage and the final stage"
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", bases[-1])
    assert bases[0] == bases[-1], "the venv built in the first stage must run on the same Python"
    copied = [i for i in FINAL if i.cmd == "COPY"]
    assert [i.flags for i in copied] == [("--from=build",)]


def test_runs_as_a_numeric_non_root_user_and_exposes_8080():
    (user,) = final("USER")
    assert user.value[0].isdigit() and int(user.value[0]) >= 10000
    assert [i.value for i in final("EXPOSE")] == [("8080",)]
    env = declared_env()
    assert (env["MOCK_RUNTYPE_HOST"], env["MOCK_RUNTYPE_PORT"]) == ("0.0.0.0", "8080")


def test_entrypoint_cmd_and_healthcheck_are_exec_form():
    assert all(i.json for i in final("ENTRYPOINT") + final("CMD") + final("HEALTHCHECK"))
    assert command_line() == ["mock-runtype", "serve"]
    assert healthcheck()[0] == "python", "the slim image has no curl"
    (check,) = final("HEALTHCHECK")
    assert any(flag.startswith("--interval=") for flag in check.flags)


def test_fixtures_have_their_documented_place():
    assert [i.value for i in final("WORKDIR")] == [("/fixtures",)]
    assert "-v $PWD/fixtures:/fixtures -e MOCK_RUNTYPE_FIXTURES=/fixtures/demo.yaml" in (ROOT / "docs" / "docker.md").read_text()


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    result = subprocess.run([hadolint, "--failure-threshold", "warning", "Dockerfile"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_build_context_holds_the_package_and_nothing_else():
    context = build_context()
    assert {"pyproject.toml", "README.md", "mock_runtype/__init__.py", "schemas/create-record.json"} <= set(context)
    assert not [p for p in context if p.startswith(("tests/", ".venv/", ".git/", "bench/")) or "__pycache__" in p]


def test_the_image_installs_locked_hashed_dependencies():
    """requirements.lock pins every dependency (and theirs) with hashes; the build stage installs
    it with --require-hashes and the wheel with --no-deps, so two builds get the same files."""
    build = stages()[0]
    runs = " ".join(" ".join(i.value) for i in build if i.cmd == "RUN")
    assert "--require-hashes --no-deps -r requirements.lock" in runs and "install --no-deps /dist/" in runs
    lock = (ROOT / "requirements.lock").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==\S+ \\$", lock, re.M)
    assert len(pins) == lock.count("\n    # via") >= 8  # each pinned, each with its reason
    assert all(entry.count("--hash=sha256:") for entry in re.split(r"^(?=[A-Za-z])", lock, flags=re.M)[1:])
    declared = {re.split(r"[<>=!~ ;\[]", d)[0].lower() for d in importlib.metadata.requires("mock-runtype")
                if "extra ==" not in d}
    assert declared <= {pin.lower() for pin in pins}
    assert "requirements.lock" in build_context()


def test_dockerignore_patterns_match_as_docker_does():
    assert ignored("tests/test_cli.py", ["tests"])
    assert ignored("mock_runtype/__pycache__/cli.pyc", ["**/__pycache__"])
    assert ignored("mock_runtype.egg-info/PKG-INFO", ["*.egg-info"])
    assert not ignored("mock_runtype/tests.py", ["tests"])
    assert not ignored("docs/keep.md", ["docs", "!docs/keep.md"])


@pytest.fixture(scope="module")
def image() -> dict[str, str]:
    """The emulated image: a venv with the wheel built from the build context, and a fixtures
    directory. Returns the environment the container would have."""
    work = Path(tempfile.mkdtemp(prefix="mock-runtype-image-"))
    os.chmod(work, 0o755)  # readable by USER 10001
    context = work / "src"
    for path in build_context():
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, context / path)
    venv = work / "venv"
    quiet = {"capture_output": True, "text": True, "check": True}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(work / "dist"),
                    str(context)], **quiet)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], **quiet)
    pip = str(venv / "bin" / "pip")
    subprocess.run([pip, "install", "-q", "--require-hashes", "--no-deps", "-r", str(context / "requirements.lock")],
                   **quiet)
    subprocess.run([pip, "install", "-q", "--no-deps", *map(str, (work / "dist").glob("*.whl"))], **quiet)
    subprocess.run([pip, "check"], **quiet)  # the lock holds every dependency the package declares
    (work / "fixtures").mkdir()
    shutil.copy2(ROOT / "fixtures" / "demo.yaml", work / "fixtures" / "demo.yaml")  # as if mounted
    (copy,) = [i for i in FINAL if i.cmd == "COPY"]
    venv_in_image = copy.value[-1]
    env = {name: value.replace(venv_in_image, str(venv)) for name, value in declared_env().items()}
    env["PATH"] = env["PATH"].replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
    yield {**env, "FIXTURES_DIR": str(work / "fixtures")}
    shutil.rmtree(work, ignore_errors=True)


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


class Container:
    """The declared command as PID 1 of fresh PID and network namespaces, run by USER."""

    def __init__(self, env: dict[str, str], **run_env: str) -> None:
        self.env = {**{k: v for k, v in env.items() if k != "FIXTURES_DIR"}, **run_env}
        (user,) = final("USER")
        uid = user.value[0]
        isolate = ["unshare", "--fork", "--pid", "--mount-proc", "--net", "sh", "-c",
                   f'ip link set lo up && exec setpriv --reuid {uid} --regid {uid} --clear-groups -- "$@"', "sh"]
        self.process = subprocess.Popen(isolate + command_line(), cwd=env["FIXTURES_DIR"], env=self.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while not (found := children(self.process.pid)) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.pid1 = found[0]  # the server, as seen from outside its namespace

    def exec(self, *command: str) -> subprocess.CompletedProcess:
        """Run `command` inside the container's network namespace, with its environment."""
        return subprocess.run(["nsenter", f"--target={self.pid1}", "--net", "--", *command], env=self.env,
                              capture_output=True, text=True, timeout=10)

    def stop(self) -> tuple[float, int, str]:
        started = time.monotonic()
        os.kill(self.pid1, signal.SIGTERM)
        status = self.process.wait(timeout=20)
        return time.monotonic() - started, status, self.process.stderr.read()


needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="namespaces need root and util-linux")


@needs_root
def test_the_image_serves_passes_its_healthcheck_and_stops_on_sigterm(image):
    # `-e MOCK_RUNTYPE_FIXTURES=demo.yaml`: relative to the WORKDIR, where the README mounts them
    container = Container(image, MOCK_RUNTYPE_FIXTURES="demo.yaml")
    try:
        deadline = time.monotonic() + DEADLINE_S  # a start on a busy machine, polled (tests.waiting)
        while (check := container.exec(*healthcheck())).returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert check.returncode == 0, check.stderr
        created = container.exec("python", "-c", (
            "import json, urllib.request as u;"
            "r = u.urlopen(u.Request('http://127.0.0.1:8080/v1/records', method='POST',"
            " data=b'{\"type\": \"t\", \"name\": \"n\"}', headers={'Authorization': 'Bearer k',"
            " 'Content-Type': 'application/json'}));"
            "print(r.status, json.load(r)['name'])"))
        assert created.stdout.split() == ["201", "n"], created.stderr
        listed = container.exec("python", "-c", (
            "import json, urllib.request as u;"
            "r = u.urlopen(u.Request('http://127.0.0.1:8080/v1/records',"
            " headers={'Authorization': 'Bearer rt_test_demo'}));"
            "print(len(json.load(r)['data']))"))
        assert listed.stdout.strip() == "3", listed.stderr  # the demo fixture's records
        uid = Path(f"/proc/{container.pid1}/status").read_text().split("Uid:")[1].split()[0]
        assert uid == final("USER")[0].value[0]
    finally:
        elapsed, status, err = container.stop()
    # a generous bound, and the engine's giving up shown by its warning (see STOP_BOUND_S)
    assert status == 0 and elapsed < STOP_BOUND_S, f"stopping took {elapsed:.2f} s: {err}"
    assert "did not stop in time" not in err
    assert "listening on http://0.0.0.0:8080" in err and "stopping on SIGTERM" in err
    assert "WARNING the control API (/__admin) is open" in err, "no token on 0.0.0.0: warned, as docs/docker.md says"
    assert container.exec(*healthcheck()).returncode != 0  # the namespace is gone with its PID 1


def test_the_healthcheck_fails_when_nothing_answers(image):
    env = {**{k: v for k, v in image.items() if k != "FIXTURES_DIR"}, "MOCK_RUNTYPE_PORT": "9"}
    result = subprocess.run(healthcheck(), env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    assert result.stderr.startswith("unhealthy: http://127.0.0.1:9/health:")
    assert json.dumps(result.stderr).count("\\n") == 1


def test_the_installed_wheel_serves_the_console(image):
    """The console's templates and static files are package data: a wheel install (not the
    editable one tests run from) has them. Run outside the repository, so the tree is not imported."""
    python = shutil.which("python", path=image["PATH"])
    script = ("from mock_runtype.http.app import create_app; client = create_app().test_client();"
              "print(*(client.get('/__admin/ui' + page).status_code for page in"
              " ('', '/records', '/requests', '/requests/rows', '/actions', '/login', '/static/console.css', '/static/console.js',"
              " '/static/favicon.svg')))")
    result = subprocess.run([python, "-c", script], capture_output=True, text=True, cwd=image["FIXTURES_DIR"],
                            env={"PATH": image["PATH"]}, timeout=60)
    assert result.stdout.split() == ["200"] * 9, result.stderr


def test_the_github_actions_example_works_on_a_fresh_runner():
    """docs/docker.md's workflow: a health wait that survives Docker's accept-then-reset, the plugin
    installed, the admin token passed, RUNTYPE_BASE_URL for the code, mock-runtype's tests left out."""
    import yaml

    page = (ROOT / "docs" / "docker.md").read_text()
    workflow = yaml.safe_load(re.search(r"```yaml\n(name: tests.*?)```", page, re.S).group(1))
    steps = workflow["jobs"]["test"]["steps"]
    start = next(s["run"] for s in steps if s.get("name") == "Start the Runtype sandbox")
    assert "--retry-all-errors" in start and "/health" in start
    assert '>> "$GITHUB_ENV"' in start and '-e MOCK_RUNTYPE_ADMIN_TOKEN="$token"' in start
    runs = [s["run"] for s in steps if "run" in s]
    assert any("./mock-runtype" in run and run.startswith("pip install") for run in runs)
    test = next(s for s in steps if s.get("run", "").startswith("pytest"))
    assert "--ignore=mock-runtype" in test["run"]
    assert {"RUNTYPE_BASE_URL", "MOCK_RUNTYPE_URL"} <= set(test["env"])
    assert "the SDK reads no environment variable" in page
