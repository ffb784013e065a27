"""Where time and identifiers come from.

Timestamps are integer milliseconds since the epoch inside the sandbox and ISO 8601 UTC strings
(`2024-06-10T09:15:30.000Z`) on the wire. The clock and the id source are objects so that
scenarios can freeze time and make ids a deterministic sequence.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from functools import lru_cache


# The instants the date-time format can write (a four-digit year): 0001-01-01T00:00:00.000Z to
# 9999-12-31T23:59:59.999Z. A controlled clock stays within them, and so do fixtures' times.
FIRST_MS = -62135596800000
LAST_MS = 253402300799999


def format_timestamp(ms: int) -> str:
    """`1718010930000` -> `"2024-06-10T09:15:30.000Z"`."""
    seconds, millis = divmod(ms, 1000)
    return f"{_second_text(seconds)}.{millis:03d}Z"


@lru_cache(maxsize=4096)
def _second_text(seconds: int) -> str:
    """`2024-06-10T09:15:30`: remembered, since every record shaped for output writes two, and
    records made together share their seconds."""
    moment = time.gmtime(seconds)
    return f"{moment.tm_year:04d}" + time.strftime("-%m-%dT%H:%M:%S", moment)


def check_writable(ms: int) -> int:
    """`ms`, if the date-time format can write it; ValueError naming the range otherwise."""
    if not FIRST_MS <= ms <= LAST_MS:
        raise ValueError(f"must be from {format_timestamp(FIRST_MS)} to {format_timestamp(LAST_MS)}, "
                         "the instants a date-time can write")
    return ms


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


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(text: str) -> int:
    """`"1500ms"`, `"90s"`, `"2.5m"`, `"1h"`, `"7d"` -> milliseconds. Raises ValueError otherwise."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError("a duration is a number and a unit: ms, s, m, h or d (e.g. 90s)")
    amount = float(match.group(1)) * _UNIT_MS[match.group(2)]
    if amount == float("inf"):
        raise ValueError("the duration is too long")
    return round(amount)


class Clock:
    """The wall clock, or a controlled one that starts at a given time and moves only when told.

    A tenant may have a controlled clock of its own (`set(ms, tenant_key)`); it applies to that
    tenant's reads (`now_ms(tenant_key)`) and leaves every other tenant's time alone.
    """

    def __init__(self, start_ms: int | None = None) -> None:
        self._lock = threading.Lock()
        self._frozen_ms = start_ms
        self._tenant_ms: dict[str, int] = {}

    @property
    def controlled(self) -> bool:
        return self._frozen_ms is not None

    def controlled_for(self, tenant_key: str | None) -> bool:
        return tenant_key in self._tenant_ms or self._frozen_ms is not None

    def has_own_clock(self, tenant_key: str) -> bool:
        return tenant_key in self._tenant_ms

    def now_ms(self, tenant_key: str | None) -> int:
        """Now, for `tenant_key` (None: the server's time). Every reader names its tenant, so
        one tenant can have a clock of its own while other tenants run in parallel."""
        own = self._tenant_ms.get(tenant_key) if tenant_key is not None else None
        if own is not None:
            return own
        frozen = self._frozen_ms
        return int(time.time() * 1000) if frozen is None else frozen

    def set(self, ms: int, tenant_key: str | None = None) -> None:
        """Freeze the clock at `ms` (it becomes controlled); for one tenant alone when named.
        ValueError, and nothing changed, past what a date-time can write."""
        check_writable(ms)
        with self._lock:
            if tenant_key is None:
                self._frozen_ms = ms
            else:
                self._tenant_ms[tenant_key] = ms

    def advance(self, ms: int, tenant_key: str | None = None) -> None:
        """Move a controlled clock forward by `ms` milliseconds (one tenant's alone when named;
        it starts from the server's controlled time if the tenant has no clock of its own yet).
        ValueError, and nothing changed, past what a date-time can write."""
        with self._lock:
            if tenant_key is not None and tenant_key in self._tenant_ms:
                start = self._tenant_ms[tenant_key]
            elif self._frozen_ms is None:
                raise ValueError("the clock is not controlled; set it first")
            else:
                start = self._frozen_ms
            moved = start + ms
            if moved > LAST_MS:
                raise ValueError(f"it would pass {format_timestamp(LAST_MS)}, the last instant a date-time can write "
                                 f"(at most {LAST_MS - start} ms from {format_timestamp(start)})")
            if tenant_key is None:
                self._frozen_ms = moved
            else:
                self._tenant_ms[tenant_key] = moved

    def release(self, tenant_key: str | None = None) -> None:
        """Back to wall time: a tenant's own clock goes (None: the server's clock, not the tenants')."""
        with self._lock:
            if tenant_key is None:
                self._frozen_ms = None
            else:
                self._tenant_ms.pop(tenant_key, None)

    def reset(self, start_ms: int | None) -> None:
        """Start over: the server's clock at `start_ms` (None: wall time), no tenant clocks."""
        with self._lock:
            self._frozen_ms = start_ms
            self._tenant_ms.clear()


_IDS_PER_DRAW = 256
# Each id's 16 bytes with the version (4) and variant (10) bits of a UUIDv4 set, as uuid.uuid4() sets them.
_KEEP_BITS = int.from_bytes(bytes.fromhex("ffffffffffff0fff3fffffffffffffff") * _IDS_PER_DRAW, "big")
_V4_BITS = int.from_bytes(bytes.fromhex("00000000000040008000000000000000") * _IDS_PER_DRAW, "big")


def random_uuids() -> list[str]:
    """_IDS_PER_DRAW random UUIDv4 strings, as `str(uuid.uuid4())` writes them, from one
    `os.urandom` read: a large fixture load draws one id a record, and a uuid4 each was a tenth of it."""
    bits = (int.from_bytes(os.urandom(16 * _IDS_PER_DRAW), "big") & _KEEP_BITS) | _V4_BITS
    text = bits.to_bytes(16 * _IDS_PER_DRAW, "big").hex()
    return [f"{text[at:at + 8]}-{text[at + 8:at + 12]}-{text[at + 12:at + 16]}-{text[at + 16:at + 20]}-{text[at + 20:at + 32]}"
            for at in range(0, 32 * _IDS_PER_DRAW, 32)]


class _RandomIds:
    """Random UUIDv4 strings, drawn a batch at a time. `list.pop` is atomic, so threads share one
    batch without a lock; a forked child starts a batch of its own (none of its parent's ids)."""

    def __init__(self) -> None:
        self._batch: list[str] = []
        os.register_at_fork(after_in_child=self._batch.clear)

    def next(self) -> str:
        while True:
            try:
                return self._batch.pop()
            except IndexError:
                self._batch.extend(random_uuids())


_random_ids = _RandomIds()


class IdSource:
    """UUID v4 identifiers: random, or deterministic sequences from a seed.

    Seeded, each tenant draws from a sequence of its own (derived from the seed and its API key),
    so the ids one tenant gets do not depend on what other tenants do in parallel, and resetting a
    tenant restarts its sequence.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self.seed = seed
        self._sequences: dict[str | None, random.Random] = {}

    def reseed(self, seed: int | None) -> None:
        """Start over from `seed` (None: random ids)."""
        with self._lock:
            self.seed = seed
            self._sequences.clear()

    def restart(self, tenant_key: str) -> None:
        """Restart one tenant's sequence."""
        with self._lock:
            self._sequences.pop(tenant_key, None)

    def new_id(self, tenant_key: str | None) -> str:
        """The next id for `tenant_key` (None: outside any tenant)."""
        if self.seed is None:
            return _random_ids.next()
        with self._lock:
            sequence = self._sequences.get(tenant_key)
            if sequence is None:
                sequence = self._sequences[tenant_key] = random.Random(f"{self.seed}/{tenant_key or ''}")
            bits = sequence.getrandbits(128)
        return str(uuid.UUID(int=bits, version=4))

    def derived_id(self, *parts: str) -> str:
        """An id fixed by `parts` when seeded (random otherwise): fixtures' records keep theirs
        across resets without drawing from a tenant's sequence."""
        if self.seed is None:
            return _random_ids.next()
        bits = random.Random("/".join((str(self.seed), *parts))).getrandbits(128)
        return str(uuid.UUID(int=bits, version=4))
