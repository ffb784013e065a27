"""Bulk loads run without garbage collection, and a server's large loads are frozen after."""

import gc
import platform
import subprocess
import sys
import threading
import weakref

import pytest

from mock_runtype.sandbox import heap
from tests.waiting import DEADLINE_S


@pytest.fixture
def freezing(monkeypatch):
    """As in `mock-runtype serve`, without freezing this test process for good."""
    monkeypatch.setattr(heap._loads, "freeze", True)
    yield
    gc.unfreeze()


def test_the_collector_is_off_during_a_bulk_load_and_back_on_after():
    assert gc.isenabled()
    with heap.bulk_load():
        assert not gc.isenabled()
        with heap.bulk_load():  # nested: still off until the outer one ends
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off():
    gc.disable()
    try:
        with heap.bulk_load():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_comes_back_on_when_the_last_of_concurrent_loads_ends():
    inside, release = threading.Event(), threading.Event()

    # The other load lasts until it is released (a deadline only against a hang), not for a fixed
    # 5 s that a busy machine could outlast before the assertion below.
    def other_load():
        with heap.bulk_load():
            inside.set()
            release.wait(DEADLINE_S)

    thread = threading.Thread(target=other_load)
    thread.start()
    try:
        assert inside.wait(DEADLINE_S), "the other load never started"
        with heap.bulk_load():
            pass
        assert not gc.isenabled()  # the other load still runs
    finally:
        release.set()
        thread.join(DEADLINE_S)
    assert gc.isenabled()


def test_the_collector_comes_back_on_when_a_load_fails():
    with pytest.raises(ValueError), heap.bulk_load():
        raise ValueError("the load failed")
    assert gc.isenabled()


def test_without_freezing_enabled_nothing_is_frozen():
    with heap.bulk_load():
        kept = [{"n": n} for n in range(heap.FREEZE_AFTER_OBJECTS * 2)]
    assert gc.get_freeze_count() == 0
    assert len(kept) == heap.FREEZE_AFTER_OBJECTS * 2


def test_what_a_large_load_leaves_is_frozen(freezing):
    with heap.bulk_load():
        kept = [{"n": n} for n in range(heap.FREEZE_AFTER_OBJECTS * 2)]
    assert gc.get_freeze_count() >= len(kept)


def test_a_small_load_is_not_frozen(freezing):
    with heap.bulk_load():
        kept = [{"n": n} for n in range(10)]
    assert gc.get_freeze_count() == 0
    assert len(kept) == 10


def test_cyclic_garbage_of_a_large_load_is_collected_before_freezing(freezing):
    class Node:
        pass

    with heap.bulk_load():
        kept = [{"n": n} for n in range(heap.FREEZE_AFTER_OBJECTS * 2)]
        cycle = Node()
        cycle.itself = cycle
        gone = weakref.ref(cycle)
        del cycle
    assert gc.get_freeze_count() >= len(kept)
    assert gone() is None  # collected, not frozen for good


def test_what_survives_a_full_collection_is_frozen_once_the_server_freezes_long_lived(monkeypatch):
    monkeypatch.setattr(heap._loads, "freeze", False)
    heap.freeze_long_lived()
    try:
        gc.unfreeze()
        survivor = [object() for _ in range(100)]
        gc.collect(1)
        assert gc.get_freeze_count() == 0, "a young collection freezes nothing"
        gc.collect()
        assert gc.get_freeze_count() >= len(survivor), "a full collection's survivors are frozen"
    finally:
        gc.callbacks.remove(heap._freeze_after_full_collection)
        gc.unfreeze()


def test_a_server_start_freezes_what_it_loaded_without_a_collection(monkeypatch):
    """`mock-runtype serve` ends its start, one bulk load, with `freeze_long_lived()`: a collection
    of everything the fixtures made would come before the server listens."""
    monkeypatch.setattr(heap._loads, "freeze", False)
    collections = []

    def note(phase, info):
        if phase == "start":
            collections.append(info["generation"])

    try:
        with heap.bulk_load():
            kept = [{"n": n} for n in range(heap.FREEZE_AFTER_OBJECTS * 2)]
            gc.callbacks.append(note)
            heap.freeze_long_lived()
        gc.callbacks.remove(note)
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(kept)
        assert collections == []
    finally:
        if note in gc.callbacks:
            gc.callbacks.remove(note)
        gc.callbacks.remove(heap._freeze_after_full_collection)
        gc.unfreeze()


PASSING_BLOCKS = """
import sys
from mock_runtype.sandbox import heap

def resident_mb():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024

if sys.argv[1] == "tuned":
    heap.return_freed_memory()
block = bytearray(1024 * 1024)
del block  # by default glibc's mmap threshold now rises to 1 MiB: larger blocks come from the heap
kept, passing = [], []
for number in range(40):
    passing.append(bytearray(600 * 1024))  # a large passing block, as a request's body or a fold
    kept.append(bytes(700 + number))  # and a small lasting one after it on the heap
before = resident_mb()
passing.clear()
print(before - resident_mb())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="glibc's malloc thresholds")
@pytest.mark.parametrize(("mode", "returned_at_least_mb", "returned_at_most_mb"), [
    ("default", -5, 5),  # the 24 MB of freed blocks stay in the process, between the small ones
    ("tuned", 20, 30),  # unmapped as they are freed
])
def test_large_passing_blocks_go_back_to_the_system_once_freed(mode, returned_at_least_mb, returned_at_most_mb):
    returned = float(subprocess.run([sys.executable, "-c", PASSING_BLOCKS, mode], check=True,
                                    capture_output=True, text=True).stdout)
    assert returned_at_least_mb <= returned <= returned_at_most_mb
