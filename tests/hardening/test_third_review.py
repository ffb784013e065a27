"""The third hostile review: a console login whose `next` holds a line break, a state file that
anyone on the machine could read (it holds every API key) or that two writes could garble,
scenario globs that a long path, query value or header held on the event loop for minutes, and
a server that never stopped once its stdout was not read."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
import time

import requests

from mock_runtype.sandbox.core import Sandbox
from mock_runtype.sandbox.exchange import Exchange
from mock_runtype.sandbox.journal import Journal
from mock_runtype.server import StateFile
from tests.hardening.raw import send
from tests.test_cli import Served, no_server_left_behind  # noqa: F401  (the fixture kills leftovers)

SECRET_KEY = "rt_review_state_secret"


# a login's `next` with a control character: a header cannot carry it (it was a 500)

def test_a_login_next_with_a_line_break_goes_to_the_console(own_server):
    answer = requests.post(own_server.url + "/__admin/ui/login", headers={"Origin": own_server.url},
                           data={"next": "/__admin/ui\r\nSet-Cookie: planted=1"}, allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/__admin/ui"
    assert "planted" not in answer.headers.get("Set-Cookie", "")


# the state file: the owner's alone, never through a planted symlink, one write at a time

def _sandbox_with_a_key() -> Sandbox:
    sandbox = Sandbox()
    sandbox.load_text(f"tenants:\n  - {{apiKey: {SECRET_KEY}, userId: u1}}\n", "<test>")
    sandbox.changes += 1
    return sandbox


def test_the_state_file_is_readable_by_its_owner_alone(tmp_path):
    saved_umask = os.umask(0o022)  # the usual umask, that made it world-readable
    try:
        state = StateFile(str(tmp_path / "state.json"), _sandbox_with_a_key())
        state.save()
    finally:
        os.umask(saved_umask)
    assert SECRET_KEY in state.path.read_text()
    assert stat.S_IMODE(state.path.stat().st_mode) == 0o600


def test_a_symlink_planted_at_the_temporary_name_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    state = StateFile(str(tmp_path / "state.json"), _sandbox_with_a_key())
    # the names the temporary file had (`.state.json.<pid>.tmp`) and might have
    for name in (f".state.json.{os.getpid()}.tmp", ".state.json.tmp"):
        (tmp_path / name).symlink_to(victim)
    state.save()
    assert victim.read_text() == "keep me"
    assert json.loads(state.path.read_text())["tenants"][0]["apiKey"] == SECRET_KEY


def test_two_writes_at_once_leave_a_whole_file_and_log_no_error(tmp_path, caplog):
    """The periodic write and the stop's may overlap (SIGTERM during a write): they took turns
    on one temporary file, so one truncated the other's, or renamed it away under it."""
    sandbox = _sandbox_with_a_key()
    for index in range(300):
        sandbox.store.create(sandbox.tenant(SECRET_KEY), {"type": "t", "name": f"n{index}", "metadata": {"i": index}})
    state = StateFile(str(tmp_path / "state.json"), sandbox)

    def write_often():
        for _ in range(40):
            sandbox.changes += 1
            state.save()

    writers = [threading.Thread(target=write_often) for _ in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert not [record.getMessage() for record in caplog.records if "cannot write" in record.getMessage()]
    assert len(json.loads(state.path.read_text())["records"]) == 300
    assert [path.name for path in tmp_path.iterdir()] == ["state.json"]


# globs with several stars: linear in the text, not O(n^stars) backtracking under the scenarios' lock

def test_a_long_path_against_a_many_star_glob_is_answered_at_once(own_server):
    added = own_server.admin("POST", "/scenarios", json={
        "name": "uuid-ish", "when": {"path": "/v1/records/*-*-*-*-*"}, "respond": {"status": 418}})
    assert added.status_code == 201
    started = time.monotonic()
    answer = send(own_server.url, "GET", "/v1/records/" + "-" * 220 + "/x",
                  headers={"Authorization": "Bearer rt_review_glob"})
    # The old regex took about 40 s for 220 dashes (29 s for 200) with the GIL held, so the
    # client's own timeout could not fire: the clock says it. Now milliseconds; 10 s for a busy machine.
    assert time.monotonic() - started < 10
    assert answer.status == 404
    assert send(own_server.url, "GET", "/health").status == 200


def test_a_long_header_against_a_many_star_glob_is_answered_at_once(own_server):
    added = own_server.admin("POST", "/scenarios", json={
        "name": "agent", "when": {"headers": {"User-Agent": "*python*requests*"}}, "respond": {"status": 418}})
    assert added.status_code == 201
    started = time.monotonic()
    answer = send(own_server.url, "GET", "/v1/records",
                  headers={"Authorization": "Bearer rt_review_glob", "User-Agent": "python" * 40_000})
    assert time.monotonic() - started < 10  # the old regex: quadratic, about 15 s for these 240 KB
    assert answer.status == 200
    assert send(own_server.url, "GET", "/v1/records",
                headers={"Authorization": "Bearer rt_review_glob", "User-Agent": "python-requests/2"}).status == 418


# an access log nobody reads: the server still stops on SIGTERM

def test_a_server_whose_stdout_is_not_read_stops_on_sigterm(no_server_left_behind):
    """Popen(stdout=PIPE) never read is common in test suites: after 64 KB of access lines the
    writer thread blocks in its write holding the writer's lock, and the stop's flush waited on
    that lock for ever."""
    served = Served()
    with requests.Session() as session:
        for _ in range(1200):  # about 150 KB of lines: more than a pipe holds
            session.get(served.url + "/v1/records/" + "x" * 100, headers={"Authorization": "Bearer rt_review_log"},
                        timeout=10)
    time.sleep(0.5)  # the writer thread's next turn: blocked on the full pipe
    started = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    try:
        status = served.process.wait(timeout=15)  # it gives the last lines 2 s, twice (stop, exit)
    except subprocess.TimeoutExpired:
        served.process.kill()
        raise AssertionError("the server did not stop on SIGTERM with a stdout nobody reads") from None
    assert status == 0
    assert time.monotonic() - started < 15


def assert_not_held_up(slow, started, release, write) -> None:
    """While `slow` runs on a thread, paused at `started` until `release`, `write` finishes: it
    takes no lock that `slow` holds (5 s: instantly unless it waits)."""
    holder = threading.Thread(target=slow)
    holder.start()
    try:
        assert started.wait(5)
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(5)
        assert not writer.is_alive()
    finally:
        release.set()
        holder.join(10)


# the console's journal filter ran under the journal's lock: every request's entry waited on it

def test_a_slow_journal_filter_holds_up_no_request():
    journal = Journal()
    journal.record(Exchange("GET", "/v1/records", {}, {}, b"", "rt_review_one", 0, status=200))
    filtering, release = threading.Event(), threading.Event()

    def slow_match(exchange: Exchange) -> bool:  # a glob over thousands of long paths, say
        filtering.set()
        release.wait(10)
        return True

    assert_not_held_up(lambda: journal.newest(10, slow_match), filtering, release,
                       lambda: journal.record(Exchange("GET", "/v1/records", {}, {}, b"", "rt_review_two", 0, status=200)))


# a state export (every --state-interval with --state-file) shaped every record under every lock

def test_a_state_export_holds_up_no_tenant_while_it_shapes_the_records(monkeypatch):
    """100,000 records took 1.7 s to shape, every tenant's lock held: with --state-file, every
    5 s of writes stalled every request for that long. Now the locks are held for the snapshot
    of references (12 ms for those 100,000)."""
    sandbox = _sandbox_with_a_key()
    sandbox.store.create(sandbox.tenant(SECRET_KEY), {"type": "t", "name": "exported"})
    shaping, release = threading.Event(), threading.Event()
    shape = Sandbox._record_to_fixture

    def slow_shape(*args):
        shaping.set()
        release.wait(10)
        return shape(*args)

    monkeypatch.setattr(Sandbox, "_record_to_fixture", staticmethod(slow_shape))
    assert_not_held_up(sandbox.export_state, shaping, release,
                       lambda: sandbox.store.create(sandbox.tenant(SECRET_KEY), {"type": "t", "name": "meanwhile"}))
