"""Waiting for something a real server does in its own time, without betting on how long it takes.

A fixed `time.sleep(n)` is wrong both ways: too short on a busy machine (the test flakes), too long
everywhere else (the suite waits for nothing). `wait_until` polls instead: it returns as soon as
the condition holds, and fails only past a deadline far beyond anything a working server needs.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")

# Generous on purpose: a deadline only tells a hang from slowness. On an idle machine the
# conditions waited for here hold within a second or two; a loaded CI runner (or `-n` workers
# sharing two cores with other jobs) can stretch that several times, and that must not fail a test.
DEADLINE_S = 30.0

# A server stopped by a signal must exit "at once": that is, without waiting out the request
# timeout (10 s) or the idle timeout (30 s) by default. The engine's own giving up on a stuck loop
# (its grace + 2 s) is shown by its warning "the engine did not stop in time", which the stop tests
# check by name rather than by the clock. Past that, the bound is generous: a busy machine can
# take a second or more to tear a Python process and its threads down.
STOP_BOUND_S = 5.0


def wait_until(condition: Callable[[], T], timeout: float = DEADLINE_S, interval: float = 0.02,
               message: str = "the condition never held") -> T:
    """Call `condition` until it returns something truthy, and return that; AssertionError with
    `message` once `timeout` seconds have passed without it."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout:g} s)")
        time.sleep(interval)
