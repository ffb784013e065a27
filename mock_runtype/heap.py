"""Bulk loads and Python's cyclic garbage collector: the one place that tunes it.

The collector runs a full collection every so often, and a full collection visits every object
alive: with 100k records loaded that pauses the whole server for over 100 ms (a create's p99), and
a bulk load, which allocates hundreds of thousands of objects, sets off several of them on the way.
So `with bulk_load():` (starting the server, fixtures read and loaded, a reset, a CSV upload, a
bulk edit)

- switches the collector off while the load allocates, and back on after (nested and concurrent
  bulk loads count: it comes back on when the last one ends);
- then, in a process whose heap is the sandbox's own (`mock-runtype serve` calls
  `freeze_after_bulk_loads()` once started, which freezes the code and fixtures loaded),
  collects what a large load left in the young generations and moves everything alive out of
  the collector's sight (`gc.freeze()`), so that later full collections visit only what came
  after (`bench/scaling.py` measures the largest pause). A process that embeds the sandbox
  (`mock_runtype.testing`) keeps its collector as it was.

Frozen objects are still freed when nothing refers to them any more (reference counting); only a
reference cycle among them stays. That is why small loads (a reset of a few records, say) freeze
nothing: what the request around them holds would pile up, a few objects at a time.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

FREEZE_AFTER_OBJECTS = 10_000  # new objects a load must leave (about 1,000 records) to be frozen


class _BulkLoads:
    """The bulk loads running, and what to do when the last one ends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.collector_was_enabled = False
        self.objects_before = 0
        self.freeze = False


_loads = _BulkLoads()


def freeze_after_bulk_loads() -> None:
    """For a process whose heap is the sandbox's: freeze what is alive now (the code loaded), and
    what survives each large bulk load from now on."""
    with _loads.lock:
        _loads.freeze = True
        gc.freeze()


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
