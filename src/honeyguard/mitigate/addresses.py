"""Single addresses as integers, and ranges as sorted integer intervals looked up by bisect.

The never-block check runs for every address the defense loop decides: parsing it once and
bisecting one sorted table measured a fraction of comparing an ``ipaddress`` network with every
range in turn (``overlaps`` per range, after parsing the value as a network).
"""

from __future__ import annotations

import heapq
import ipaddress
from bisect import bisect_right
from collections.abc import Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


#: Parsed values remembered, at most this many (then forgotten all at once).
MAX_REMEMBERED = 65_536
_numbers: dict[str, tuple[int, int] | None] = {}


def address_number(value: str) -> tuple[int, int] | None:
    """``value`` as (IP version, integer) when it is one address, else None. Remembered per
    value: the never-block check and the range share both ask it of each address decided."""
    try:
        return _numbers[value]
    except KeyError:
        pass
    if len(_numbers) >= MAX_REMEMBERED:
        _numbers.clear()
    found = _numbers[value] = _dotted_quad(value) or _parsed(value)
    return found


def _dotted_quad(value: str) -> tuple[int, int] | None:
    """The common case, a plain IPv4 address, without ``ipaddress``'s object and per-octet calls.
    Accepts only what ``ipaddress`` accepts (four ASCII decimal octets of at most three digits,
    no leading zero, at most 255); anything else goes to ``_parsed`` for the exact answer."""
    parts = value.split(".")
    if len(parts) != 4:
        return None
    number = 0
    for part in parts:
        if not (0 < len(part) <= 3 and part.isascii() and part.isdigit()) or (part[0] == "0" and part != "0"):
            return None
        octet = int(part)
        if octet > 255:
            return None
        number = number << 8 | octet
    return 4, number


def _parsed(value: str) -> tuple[int, int] | None:
    address = plain_address(value)
    return None if address is None else (address.version, int(address))


def plain_address(value: str) -> Address | None:
    """``value`` as one address (no prefix length, no IPv6 zone), or None: the caller then takes
    the general network path, which handles those forms."""
    if "/" in value or "%" in value:
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def is_global(version: int, number: int) -> bool:
    """``ipaddress``'s own answer: whether the address is globally routable."""
    return (ipaddress.IPv4Address(number) if version == 4 else ipaddress.IPv6Address(number)).is_global


class IntervalTable:
    """Integer ranges (first, last, label) of one family, answering which label comes first (in
    the given order) among the ranges holding a number. Overlapping ranges are cut at every
    boundary into disjoint segments, each carrying the lowest label covering it."""

    def __init__(self, ranges: Iterable[tuple[int, int, int]]) -> None:
        items = sorted(ranges)
        bounds = sorted({r[0] for r in items} | {r[1] + 1 for r in items})
        self._starts: list[int] = []
        self._labels: list[int] = []
        open_: list[tuple[int, int]] = []  # (label, last) of the ranges begun so far
        next_item = 0
        for bound in bounds:
            while next_item < len(items) and items[next_item][0] == bound:
                _, last, label = items[next_item]
                heapq.heappush(open_, (label, last))
                next_item += 1
            while open_ and open_[0][1] < bound:  # ended: once behind, always behind
                heapq.heappop(open_)
            label = open_[0][0] if open_ else -1
            if not self._labels or self._labels[-1] != label:
                self._starts.append(bound)
                self._labels.append(label)

    def first_label(self, number: int) -> int | None:
        """The lowest label among the ranges holding ``number``, or None."""
        at = bisect_right(self._starts, number) - 1
        if at < 0:
            return None
        label = self._labels[at]
        return None if label < 0 else label
