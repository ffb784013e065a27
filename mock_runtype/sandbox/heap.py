"""Bulk loads and Python's cyclic garbage collector: the one place that tunes it.

The collector runs a full collection every so often, and a full collection visits every object
alive: with 100k records loaded that pauses the whole server for over 100 ms (a create's p99), and
a bulk load, which allocates hundreds of thousands of objects, sets off several of them on the way.
So each of the Sandbox's bulk operations (fixtures read and loaded, at start or at runtime, a
reset, a CSV upload, a bulk edit: `sandbox/core.py`; `cli.py` runs `serve`'s whole start and
`validate`'s reading as one too) runs once `with bulk_load():`, which

- switches the collector off while the load allocates, and back on after (concurrent bulk loads
  count, as would nested ones: it comes back on when the last one ends);
- then, in a process whose heap is the sandbox's own (`mock-runtype serve` calls
  `freeze_long_lived()` at the end of its start, which freezes the code and fixtures loaded),
  collects what a large load left in the young generations and moves everything alive out of
  the collector's sight (`gc.freeze()`), so that later full collections visit only what came
  after (`bench/scaling.py` measures the largest pause). A process that embeds the sandbox
  (`mock_runtype.testing`) keeps its collector as it was.

Frozen objects are still freed when nothing refers to them any more (reference counting); only a
reference cycle among them stays. That is why small loads (a reset of a few records, say) freeze
nothing: what the request around them holds would pile up, a few objects at a time.

The C heap is tuned here too, for `mock-runtype serve` alone (`return_freed_memory()`).
"""

from __future__ import annotations

import ctypes
import gc
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

FREEZE_AFTER_OBJECTS = 10_000  # new objects a load must leave (about 1,000 records) to be frozen
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 512 * 1024  # blocks from this size up are mapped on their own, unmapped when freed
TRIM_THRESHOLD = 4 * 1024 * 1024  # free memory past this at the heap's top goes back to the system


class _BulkLoads:
    """The bulk loads running, and what to do when the last one ends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.collector_was_enabled = False
        self.objects_before = 0
        self.freeze = False


_loads = _BulkLoads()


def freeze_long_lived() -> None:
    """For a process whose heap is the sandbox's: freeze what is alive now (the code loaded), what
    survives each large bulk load from now on, and what survives each full collection. Records
    created one request at a time (thousands a second in a CI job) reach the old generation too,
    and full collections over them grew to 82 ms at 90k records; frozen after each one, the next
    visits only what came since: 19 ms at most (`bench/scaling.py`'s GC rows; a churn of 90k
    creates and 45k deletes kept the same resident memory either way).

    Called inside a bulk load (`mock-runtype serve` runs its start as one: the fixtures and the
    state file loaded), what that load made is frozen with the code, uncollected as the code is:
    a collection would visit every object of the fixtures before the server listens, to find
    the few reference cycles a start leaves, which stay."""
    with _loads.lock:
        _loads.freeze = True
        gc.freeze()
        _loads.objects_before = gc.get_count()[0]  # a running load's objects are frozen: none is left to collect
        if _freeze_after_full_collection not in gc.callbacks:
            gc.callbacks.append(_freeze_after_full_collection)


def return_freed_memory() -> None:
    """For a process whose heap is the sandbox's, on glibc: fixed thresholds for malloc. By default
    glibc raises its mmap and trim thresholds to the largest block freed (up to 32 and 64 MB), so
    after a few large passing blocks (a field of 450k characters, its case-fold, a request body)
    what they took stays in the process once freed. Fixed, a block from MMAP_THRESHOLD up is
    unmapped when freed, and the heap gives back what is free past TRIM_THRESHOLD at its top. Both
    sit above what every request allocates (a socket read takes 256 KiB), which stays on the heap
    as before: unmapping or trimming at every read would cost each request system calls."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without it
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def _freeze_after_full_collection(phase: str, info: dict) -> None:
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()  # what survived a full collection is long-lived: the sandbox's state


@contextmanager
def bulk_load() -> Iterator[None]:
    """No garbage collection while the block runs; then, if enabled, what a large load left is frozen."""
    with _loads.lock:
        if _loads.running == 0:
            _loads.collector_was_enabled = gc.isenabled()
            _loads.objects_before = gc.get_count()[0]
            gc.disable()
        _loads.running += 1
    try:
        yield
    finally:
        with _loads.lock:
            _loads.running -= 1
            if _loads.running == 0:
                if _loads.freeze and gc.get_count()[0] - _loads.objects_before >= FREEZE_AFTER_OBJECTS:
                    gc.collect(1)  # the young generations: what the load allocated, not the old heap
                    gc.freeze()
                if _loads.collector_was_enabled:
                    gc.enable()
