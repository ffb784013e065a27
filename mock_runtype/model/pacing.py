"""Long scans on a worker thread give way, now and then, to the thread serving everyone else.

A heavy request is answered on a worker thread so that the event loop goes on serving small
requests, but Python runs one thread at a time (the GIL): a worker in a long pure-Python loop
hands it over only when the loop thread has waited a switch interval (5 ms), and the loop thread
gives it up again at each socket call, so a small request beside a long scan waits a switch
interval per socket call, and under steady traffic its queue grows without end. So the scans
over records walk them through `paced`: on a thread marked for it (`pace_this_thread`, for a
heavy request), every slice of work it sleeps for zero seconds, which lets a waiting thread take
the GIL at once. Elsewhere (the loop thread, small requests, tests) it is a plain walk. The
figures that chose the slice are in docs/performance.md.

Outside the scans a heavy request runs stretches of plain Python too (its filter checked and
compiled, its answer made), where only the switch interval hands the GIL over: `mock-runtype
serve` shortens it (`prefer_short_waits`).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
# Work between two yields; the clock is read at every item, as one record can take milliseconds.
# A small request waits up to a slice at each of its socket calls.
SLICE_S = 0.0002
SWITCH_INTERVAL_S = 0.001  # how long a thread waits for the GIL before asking for it, when serving

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


def prefer_short_waits() -> None:
    """For a process that is the server: a thread waiting for the GIL asks for it after
    SWITCH_INTERVAL_S instead of Python's 5 ms, so that the loop thread, which waits at each of its
    socket calls while a heavy request runs unpaced Python on a worker, is not held a whole 5 ms
    each time. Threads that do not compete for the GIL (most of the time) are not affected."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
