"""`mock-runtype serve --state-file`: the state survives a restart, as a real process shows."""

from __future__ import annotations

import json
import signal

import requests

from mock_runtype.sandbox.core import Sandbox
from mock_runtype.server import StateFile
from tests.test_cli import Served, no_server_left_behind, run  # noqa: F401  (the fixture kills leftovers)
from tests.waiting import wait_until

KEY = {"Authorization": "Bearer rt_test_state"}


def create(url: str, name: str) -> str:
    answer = requests.post(f"{url}/v1/records", json={"type": "t", "name": name, "metadata": {"n": 1}}, headers=KEY)
    assert answer.status_code == 201
    return answer.json()["id"]


def names(url: str) -> list[str]:
    return sorted(r["name"] for r in requests.get(f"{url}/v1/records", headers=KEY).json()["data"])


def test_records_survive_a_stop_and_a_start(tmp_path):
    state = tmp_path / "state.json"
    served = Served("--state-file", str(state))
    first = create(served.url, "a")
    create(served.url, "b")
    _, status, _, _ = served.stop(signal.SIGTERM)
    assert status == 0 and state.is_file()
    again = Served("--state-file", str(state))
    assert names(again.url) == ["a", "b"]
    assert requests.get(f"{again.url}/v1/records/{first}", headers=KEY).json()["metadata"] == {"n": 1}
    assert again.stop(signal.SIGINT)[1] == 0


def test_a_crash_loses_at_most_the_interval(tmp_path):
    """Written every --state-interval seconds while serving: a SIGKILL right after keeps what was written."""
    state = tmp_path / "state.json"
    served = Served("--state-file", str(state), env={"MOCK_RUNTYPE_STATE_INTERVAL": "1"})
    create(served.url, "kept")
    wait_until(lambda: state.is_file() and "kept" in state.read_text(), message="the state was never written")
    served.process.kill()
    served.process.wait()
    assert not [p.name for p in tmp_path.iterdir() if p.name != "state.json"]  # no temporary file left
    again = Served("--state-file", str(state))
    assert names(again.url) == ["kept"]
    again.stop()


def test_a_corrupt_state_file_stops_the_start_and_is_left_alone(tmp_path):
    state = tmp_path / "state.json"
    corrupt = b'{"records": [{"tenant": "rt_test_state", "type": "t"'  # cut short
    state.write_bytes(corrupt)
    before = state.stat().st_mtime_ns
    finished = run("serve", "--port", "0", "--state-file", str(state))
    assert finished.returncode != 0
    assert "not starting" in finished.stderr and str(state) in finished.stderr and "left as it is" in finished.stderr
    assert state.read_bytes() == corrupt and state.stat().st_mtime_ns == before


def test_a_state_is_written_only_when_it_changed(tmp_path):
    sandbox = Sandbox()
    state = StateFile(str(tmp_path / "state.json"), sandbox)
    state.save()  # no file yet: written, empty
    written = state.path.stat().st_mtime_ns, state.path.stat().st_ino
    state.save()
    assert (state.path.stat().st_mtime_ns, state.path.stat().st_ino) == written
    sandbox.store.create(sandbox.tenant("rt_test_state"), {"type": "t", "name": "n"})
    sandbox.changes += 1  # as the HTTP layer counts a POST
    state.save()
    assert state.path.stat().st_ino != written[1]  # a new file, renamed over the old one
    assert [r["name"] for r in json.loads(state.path.read_text())["records"]] == ["n"]
    fresh = Sandbox()
    assert StateFile(str(state.path), fresh).load() == {"tenants": 1, "records": 1}
    assert [r.name for r in fresh.store.records_of(fresh.tenant("rt_test_state").tenant_key)] == ["n"]
