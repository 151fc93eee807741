"""Time-ordered UUIDv7 identifiers (RFC 9562): the event id is also the idempotency key."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


class _Entropy(Protocol):
    def randbits(self, bits: int) -> int: ...


class UuidV7Factory:
    """Makes UUIDv7 strings, strictly increasing within one factory even inside one millisecond."""

    def __init__(self, entropy: _Entropy) -> None:
        self._entropy = entropy
        self._last_ms = -1
        self._seq = 0

    def new(self, at: datetime) -> str:
        ms = int(at.timestamp() * 1000)
        if ms <= self._last_ms:
            ms = self._last_ms
            self._seq += 1
            if self._seq > 0xFFF:  # 12-bit counter spent: borrow the next millisecond
                ms += 1
                self._seq = 0
        else:
            self._seq = self._entropy.randbits(10)  # leave room to count up
        self._last_ms = ms
        rand_b = self._entropy.randbits(62)
        value = (ms & 0xFFFFFFFFFFFF) << 80 | 0x7 << 76 | self._seq << 64 | 0b10 << 62 | rand_b
        h = f"{value:032x}"  # formatted by hand: uuid.UUID costs more than the rest of this method
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_HEX_AND_DASH = b"0123456789abcdef-"


def canonical_uuids(values: Sequence[str]) -> bool:
    """Whether every value is a UUID in canonical text (8-4-4-4-12 lower-case hex), checked on
    their concatenation in a few C passes. Canonical UUIDs sort as text the way they sort as
    UUIDs, and read back from the event store as they were sent."""
    joined = "".join(values).encode("utf-8", "surrogatepass")
    n = len(values)
    return (
        len(joined) == 36 * n
        and not joined.translate(None, _HEX_AND_DASH)
        and joined.count(b"-") == 4 * n
        and all(joined[at::36] == b"-" * n for at in (8, 13, 18, 23))
    )


def uuid7_time_ms(value: str) -> int:
    """The millisecond timestamp carried by a UUIDv7."""
    return uuid.UUID(value).int >> 80
