"""The clock and the id source, per tenant: one tenant's time and ids do not depend on another's."""

from __future__ import annotations

import os
import uuid

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


def test_random_ids_are_distinct_version_4_uuids_as_uuid4_writes_them():
    ids = IdSource()
    drawn = [ids.new_id("a") for _ in range(700)] + [ids.derived_id("a", "t", str(n)) for n in range(700)]
    assert len(set(drawn)) == len(drawn)  # across several draws of a batch
    for text in drawn:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
    # Every digit that is not the version's takes many values: the bits are random, not a pattern.
    positions = [at for at in range(36) if text[at] != "-" and at != 14]
    assert all(len({text[at] for text in drawn}) >= (4 if at == 19 else 12) for at in positions)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_draw_the_ids_its_parent_will():
    ids = IdSource()
    ids.new_id(None)  # the parent now holds a batch of ids not yet drawn
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(writing, ids.new_id(None).encode())
        os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    with os.fdopen(reading) as pipe:
        assert pipe.read() != ids.new_id(None)


@pytest.mark.parametrize("text, ms", [("1500ms", 1500), ("90s", 90_000), ("2.5m", 150_000), ("1h", 3_600_000), ("1d", 86_400_000)])
def test_durations(text, ms):
    assert parse_duration(text) == ms
