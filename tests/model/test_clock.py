"""The clock and the id source, per tenant: one tenant's time and ids do not depend on another's."""

from __future__ import annotations

import pytest

from mock_runtype.model.clock import Clock, IdSource, parse_duration


def test_a_tenant_clock_leaves_the_others_alone():
    clock = Clock(start_ms=1000)
    clock.advance(500, "a")
    assert clock.now_ms("a") == 1500 and clock.now_ms("b") == 1000 and clock.now_ms(None) == 1000
    clock.release("a")
    assert clock.now_ms("a") == 1000


def test_advancing_a_wall_clock_is_refused():
    with pytest.raises(ValueError):
        Clock().advance(1, "a")


def test_seeded_ids_are_a_sequence_per_tenant_that_restarts():
    ids = IdSource(seed=1)
    first = [ids.new_id("a") for _ in range(2)]
    ids.new_id("b")
    ids.restart("a")
    assert [ids.new_id("a") for _ in range(2)] == first
    assert ids.derived_id("a", "t", "n") == IdSource(seed=1).derived_id("a", "t", "n")


@pytest.mark.parametrize("text, ms", [("1500ms", 1500), ("90s", 90_000), ("2.5m", 150_000), ("1h", 3_600_000), ("1d", 86_400_000)])
def test_durations(text, ms):
    assert parse_duration(text) == ms
