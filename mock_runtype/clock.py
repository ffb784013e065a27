"""Where time and identifiers come from.

Timestamps are integer milliseconds since the epoch inside the sandbox and ISO 8601 UTC strings
(`2024-06-10T09:15:30.000Z`) on the wire. The clock and the id source are objects so that
scenarios can freeze time and make ids a deterministic sequence.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import datetime, timezone


def format_timestamp(ms: int) -> str:
    """`1718010930000` -> `"2024-06-10T09:15:30.000Z"`."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def parse_timestamp(text: str) -> int:
    """An ISO 8601 date-time (a `Z` or an offset; a bare date is midnight UTC) -> milliseconds.

    Raises ValueError on anything else, and on date-times without a zone, which are ambiguous.
    """
    if not isinstance(text, str):
        raise ValueError("not a string")
    value = text.strip()
    if len(value) == 10:
        moment = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    else:
        if value.endswith(("Z", "z")):
            value = value[:-1] + "+00:00"
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("a date-time needs a time zone (Z or an offset)")
    return round(moment.timestamp() * 1000)


class Clock:
    """The wall clock, or a controlled one that starts at a given time and moves only when told."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen_ms = start_ms

    @property
    def controlled(self) -> bool:
        return self._frozen_ms is not None

    def now_ms(self) -> int:
        frozen = self._frozen_ms
        return int(time.time() * 1000) if frozen is None else frozen

    def set(self, ms: int) -> None:
        """Freeze the clock at `ms` (it becomes controlled)."""
        with self._lock:
            self._frozen_ms = ms

    def advance(self, ms: int) -> None:
        """Move a controlled clock forward by `ms` milliseconds."""
        with self._lock:
            if self._frozen_ms is None:
                raise ValueError("the clock is not controlled; set it first")
            self._frozen_ms += ms


class IdSource:
    """UUID v4 identifiers: random, or a deterministic sequence from a seed."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed) if seed is not None else None

    def new_id(self) -> str:
        if self._random is None:
            return str(uuid.uuid4())
        with self._lock:
            bits = self._random.getrandbits(128)
        return str(uuid.UUID(int=bits, version=4))
