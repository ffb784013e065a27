"""Long scans on a worker thread give way, now and then, to the thread serving everyone else.

A heavy request is answered on a worker thread so that the event loop goes on serving small
requests, but Python runs one thread at a time (the GIL): a worker in a long pure-Python loop
hands it over only when the loop thread has waited a switch interval (5 ms), and the loop thread
gives it up again at each socket call, so a small GET beside a 100k-record scan waited 5 ms per
socket call, and a prober's queue grew without end (a 640 ms median, measured). So the scans
over records walk them through `paced`: on a thread marked for it (`pace_this_thread`, for a
heavy request), every millisecond of work it sleeps for zero seconds, which lets a waiting
thread take the GIL at once (a loop-thread round trip beside such a worker: 0.2 ms at p99,
against 13 ms without). Elsewhere (the loop thread, small requests, tests) it is a plain walk.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
SLICE_S = 0.001  # work between two yields (the clock is read at every item: a record can take milliseconds)

_thread = threading.local()
_clock, _sleep = time.perf_counter, time.sleep  # module attributes, for a test's fake clock


def pace_this_thread(paced: bool) -> None:
    """Whether this thread's scans yield (set per request: true for one answered off the loop)."""
    _thread.paced = paced


def paced(items: Iterable[T]) -> Iterator[T]:
    """`items`, with a yield of the GIL every SLICE_S of work when this thread is paced."""
    if not getattr(_thread, "paced", False):
        yield from items
        return
    clock, sleep = _clock, _sleep
    deadline = clock() + SLICE_S
    for item in items:
        if clock() >= deadline:
            sleep(0)
            deadline = clock() + SLICE_S
        yield item
