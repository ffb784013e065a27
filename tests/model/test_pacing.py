"""Scans on a thread answering a heavy request give the GIL away every slice of work; elsewhere
they are plain walks. Driven by a fake clock: each item takes half a slice of it."""

from __future__ import annotations

import sys

import pytest

from mock_runtype.model import pacing


@pytest.fixture
def fake_time(monkeypatch):
    now, sleeps = [0.0], []

    def clock() -> float:
        now[0] += pacing.SLICE_S / 2
        return now[0]

    monkeypatch.setattr(pacing, "_clock", clock)
    monkeypatch.setattr(pacing, "_sleep", sleeps.append)
    yield sleeps
    pacing.pace_this_thread(False)


def test_a_paced_thread_yields_once_a_slice_of_work(fake_time):
    pacing.pace_this_thread(True)
    assert list(pacing.paced(range(20))) == list(range(20))
    assert fake_time and set(fake_time) == {0}
    assert 6 <= len(fake_time) <= 11  # one yield per slice of the ten slices walked


def test_another_thread_walks_without_yielding(fake_time):
    pacing.pace_this_thread(False)
    assert list(pacing.paced(range(20))) == list(range(20))
    assert fake_time == []


def test_a_server_asks_for_the_gil_after_a_millisecond_not_five():
    """`prefer_short_waits()`, which `mock-runtype serve` calls at its start (tests/test_cli.py)."""
    default = sys.getswitchinterval()
    try:
        pacing.prefer_short_waits()
        assert sys.getswitchinterval() == pytest.approx(pacing.SWITCH_INTERVAL_S) and pacing.SWITCH_INTERVAL_S < default
    finally:
        sys.setswitchinterval(default)
