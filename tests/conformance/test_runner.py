"""The conformance run against a second sandbox: the same one reports no difference, one made to
drift with scenarios reports each drift by case and field, and the run leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests

from mock_runtype.conformance.cases import parse_case, shipped_cases
from mock_runtype.conformance.runner import Run
from mock_runtype.conformance.transport import HttpSide
from mock_runtype.testing import LocalServer, new_api_key
from tests.waiting import wait_until

COMMAND = [str(Path(sys.executable).with_name("mock-runtype"))]
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_RUNTYPE_")}


@pytest.fixture(scope="module")
def target():
    with LocalServer() as server:
        yield server


@pytest.fixture
def key():
    return new_api_key()


def records_of(server: LocalServer, api_key: str) -> list[dict]:
    """Every record the key's tenant holds (the key is the test's own: all of them are the run's)."""
    answer = requests.get(f"{server.url}/v1/records", params={"limit": 100},
                          headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    assert answer.status_code == 200
    return answer.json()["data"]


def case(name: str) -> list:
    return [c for c in shipped_cases() if c.name == name]


def conformance(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(COMMAND + ["conformance", *args], capture_output=True, text=True, timeout=timeout,
                          env=CLEAN_ENV)


def differing_fields(result, case_name: str) -> set[str]:
    found = next(c for c in result.cases if c.name == case_name)
    return {d.field for step in found.steps for d in step.differences}


def test_a_second_sandbox_answers_every_shipped_case_the_same(target, key, tmp_path):
    """Through the command, as a user runs it: exit 0, the JSON and JUnit reports say the same."""
    done = conformance("--target", target.url, "--api-key", key, "--json", str(tmp_path / "r.json"),
                       "--junit", str(tmp_path / "r.xml"))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ok"] and report["summary"]["different"] == 0 and report["summary"]["errors"] == 0
    names = {c["name"] for c in report["cases"]}
    assert {"records-crud", "list-filters-cursors", "duplicates", "limits", "bulk", "csv", "discovery",
            "results", "errors"} <= names
    assert all(step["same"] and not step["schemaProblems"] for c in report["cases"] for step in c["steps"])
    suite = ElementTree.parse(tmp_path / "r.xml").getroot()
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert {tc.get("name") for tc in suite.iter("testcase")} == names
    assert report["prefix"] in done.stderr  # the prefix is announced before anything is made
    assert records_of(target, key) == []
    assert report["cleanup"]["deleted"] > 0 and report["cleanup"]["leftBehind"] == []


def test_a_changed_status_is_reported_by_case_and_field(key):
    with LocalServer() as server:
        server.sandbox.add_scenario({"name": "costs-fail", "when": {"method": "GET", "path": "/v1/records/*/costs"},
                                    "respond": {"status": 503, "body": {"error": "Service Unavailable"}}}, key)
        result = Run(HttpSide(server.url, key), case("results")).execute()
        assert not result.ok
        step = next(s for s in result.cases[0].steps if s.name == "costs")
        assert ("status", 503, 200) in [(d.field, d.target, d.sandbox) for d in step.differences]
        assert step.schema  # 503 is no status the document gives /costs
        assert records_of(server, key) == []


def test_a_missing_field_is_reported_by_its_path(key):
    with LocalServer() as server:
        nameless = {"id": "00000000-0000-4000-8000-000000000000", "userId": "u", "type": "t", "metadata": {},
                    "createdAt": "2024-06-10T09:15:30Z", "updatedAt": "2024-06-10T09:15:30Z"}
        server.sandbox.add_scenario({"name": "put-drops-name", "when": {"method": "PUT", "path": "/v1/records/*"},
                                     "respond": {"status": 200, "body": nameless}}, key)
        result = Run(HttpSide(server.url, key), case("records-crud")).execute()
        put = next(s for s in result.cases[0].steps if s.name == "replace with PUT")
        assert ("body.name", "(missing)", "first renamed") in [(d.field, d.target, d.sandbox) for d in put.differences]
        assert any("name" in problem["message"] or problem["path"] == "name" for problem in put.schema)
        assert result.cases[0].status == "different"
        assert records_of(server, key) == []


def test_a_different_error_body_is_reported(key):
    with LocalServer() as server:
        server.sandbox.add_scenario({"name": "odd-409", "when": {"method": "POST", "path": "/v1/records"},
                                     "after": 1, "times": 1,
                                     "respond": {"status": 409, "body": {"error": "Duplicate", "code": "DUP"}}}, key)
        result = Run(HttpSide(server.url, key), case("duplicates")).execute()
        fields = differing_fields(result, "duplicates")
        assert {"body.error", "body.code", "body.existingId"} <= fields
        assert "status" not in fields


def test_the_reports_name_the_case_and_field_of_each_drift(key, tmp_path):
    with LocalServer() as server:
        server.sandbox.add_scenario({"name": "costs-fail", "when": {"method": "GET", "path": "/v1/records/*/costs"},
                                     "respond": {"status": 503, "body": {"error": "down"}}}, key)
        done = conformance("--target", server.url, "--api-key", key, "--only", "results", "--only", "errors",
                           "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "results" in done.stdout and "DIFFERENT" in done.stdout and "status" in done.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    by_name = {c["name"]: c for c in report["cases"]}
    assert by_name["errors"]["status"] == "same" and by_name["results"]["status"] == "different"
    fields = {d["field"] for s in by_name["results"]["steps"] for d in s["differences"]}
    assert "status" in fields
    suite = ElementTree.parse(tmp_path / "r.xml").getroot()
    failures = {tc.get("name"): tc.find("failure") for tc in suite.iter("testcase")}
    assert failures["errors"] is None
    assert failures["results"] is not None and "status" in failures["results"].get("message")
    assert suite.get("failures") == "1"


def test_a_case_that_fails_midway_still_leaves_nothing_behind(key):
    with LocalServer() as server:
        server.sandbox.add_scenario({"name": "cut", "when": {"method": "PUT", "path": "/v1/records/*"},
                                     "fault": "connection_reset"}, key)
        result = Run(HttpSide(server.url, key), case("records-crud") + case("bulk")).execute()
        crud = result.cases[0]
        assert crud.status == "error" and "did not answer" in crud.error
        assert result.cases[1].status == "same"  # the next case still runs
        assert result.deleted == 2 and result.left_behind == []  # crud's one, and the one bulk leaves
        assert records_of(server, key) == []


def test_a_record_whose_create_answer_is_lost_is_found_by_its_type_and_deleted(key):
    """The create went through but its answer never reached the run: the cleanup lists the run's types."""
    lost = parse_case("name: lost\nsteps:\n  - {method: POST, path: /v1/records, body: {type: '${type}', name: n},"
                      " capture: {made: nothing}}\n  - {method: GET, path: '/v1/records/${made}'}\n", "inline")
    with LocalServer() as server:
        result = Run(HttpSide(server.url, key), [lost]).execute()
        # the capture named no field: the run never learnt the id, yet the record is gone
        assert result.cases[0].status == "error" and result.deleted == 1
        assert records_of(server, key) == []


def test_ctrl_c_midway_deletes_what_the_run_made(key, tmp_path):
    with LocalServer() as server:
        server.sandbox.add_scenario({"name": "slow-put", "when": {"method": "PUT", "path": "/v1/records/*"},
                                     "delayMs": 60000}, key)
        process = subprocess.Popen(COMMAND + ["conformance", "--target", server.url, "--api-key", key,
                                              "--only", "records-crud", "--json", str(tmp_path / "r.json")],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=CLEAN_ENV)
        try:
            wait_until(lambda: records_of(server, key), message="the run never created its record")
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 130, out + err
        assert "interrupted" in err
        assert records_of(server, key) == []
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["interrupted"] and report["cleanup"]["deleted"] == 1


def test_a_target_that_is_not_loopback_needs_the_flag_naming_it():
    done = conformance("--target", "https://api.example.com", "--api-key", "rt_live_x")
    assert done.returncode == 2
    assert "--i-understand-this-writes-to api.example.com" in done.stderr
    wrong = conformance("--target", "https://api.example.com", "--api-key", "rt_live_x",
                        "--i-understand-this-writes-to", "api.example.org")
    assert wrong.returncode == 2 and "not this machine" in wrong.stderr


def test_a_step_that_could_touch_what_the_run_did_not_make_is_not_sent(key, tmp_path):
    (tmp_path / "unsafe.yaml").write_text(
        "name: unsafe\nsteps:\n  - {method: POST, path: /v1/records/bulk-edit, body: {applyToAll: true, updates: {x: 1}}}\n"
        "  - {method: GET, path: /v1/records}\n")
    with LocalServer() as server:
        done = conformance("--target", server.url, "--api-key", key, "--no-shipped", "--cases", str(tmp_path),
                           "--json", str(tmp_path / "r.json"))
        sent = [(e["method"], e["path"]) for e in server.sandbox.journal.entries(key)]
    assert ("POST", "/v1/records/bulk-edit") not in sent and ("GET", "/v1/records") not in sent
    assert done.returncode == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["cases"][0]["status"] == "error" and "not sent" in report["cases"][0]["error"]


def test_a_users_case_folder_runs_beside_the_shipped_ones(key, tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "name: mine\nsteps:\n"
        "  - {method: POST, path: /v1/records, body: {type: '${type}', name: n}, capture: {made: id}}\n"
        "  - {method: GET, path: '/v1/records/${made}'}\n")
    with LocalServer() as server:
        done = conformance("--target", server.url, "--api-key", key, "--cases", str(tmp_path), "--only", "mine")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "mine" in done.stdout and records_of(server, key) == []


def test_a_case_file_with_a_mistake_is_a_usage_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: Bad Name\nsteps: []\n")
    done = conformance("--target", "http://127.0.0.1:9", "--api-key", "k", "--cases", str(tmp_path))
    assert done.returncode == 2 and "bad.yaml" in done.stderr


def test_every_shipped_case_parses_and_names_its_file():
    cases = shipped_cases()
    assert len(cases) >= 9 and all(c.source.startswith("cases/") and c.steps for c in cases)
    assert parse_case("name: x\nsteps: [{method: get, path: /health}]", "inline").steps[0].method == "GET"
