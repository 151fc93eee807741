"""Injectable time and randomness: nothing else in honeyguard calls time.time() or random directly."""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current UTC time."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self._now += timedelta(seconds=seconds)
        self._mono += seconds


class Entropy(Protocol):
    def randbits(self, bits: int) -> int: ...


class SystemEntropy:
    def randbits(self, bits: int) -> int:
        return int.from_bytes(os.urandom((bits + 7) // 8), "big") >> ((8 - bits % 8) % 8)


class FastEntropy:
    """Unpredictable enough for identifiers, not for secrets: a PRNG seeded once from the OS.
    Tokens and keys use SystemEntropy; event ids use this (an os.urandom call per id costs more)."""

    def __init__(self) -> None:
        self._rng = random.Random(os.urandom(32))

    def randbits(self, bits: int) -> int:
        return self._rng.getrandbits(bits)


class SeededEntropy:
    """Deterministic randomness for tests and benchmarks."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def randbits(self, bits: int) -> int:
        return self._rng.getrandbits(bits)
