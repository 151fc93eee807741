"""Address and network drops merged into interval sets: one entry per network and direction,
networks inside a kept range left out, the longest expiry kept.

Built in one pass without sorting every decision first: each network is an int key
(first address << 8 | prefix) in one dict per (direction, version); only a tie (same network,
same expiry) looks at the stable order, to keep the decision that order puts first.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from datetime import datetime

from honeyguard.export.base import in_force, network_text, parse_network, stable_key
from honeyguard.model.decision import Decision

#: The sets a decision's direction puts it in ("both" counts for each).
_SETS_OF = {"ingress": ("ingress",), "egress": ("egress",), "both": ("ingress", "egress")}


class NetworkSets:
    """Address and network drops in force, per (direction, version)."""

    def __init__(
        self, decisions: Iterable[Decision], now: datetime, directions: tuple[str, ...] = ("ingress", "egress")
    ) -> None:
        self._best: dict[tuple[str, int], dict[int, Decision]] = {
            (direction, version): {} for direction in directions for version in (4, 6)
        }
        tables_of = {
            (given, version): [
                self._best[(direction, version)] for direction in _SETS_OF[given] if direction in directions
            ]
            for given in _SETS_OF
            for version in (4, 6)
        }
        for d in in_force(decisions, now, types=("ip", "cidr")):
            parsed = _key(d.value)
            if parsed is None:
                continue
            version, key = parsed
            for table in tables_of.get((d.direction, version), ()):
                kept = table.get(key)
                if kept is None or _replaces(d, kept):
                    table[key] = d

    def kept(self, version: int, direction: str) -> list[int]:
        """The keys kept, in address order: networks inside a kept range left out."""
        table = self._best[(direction, version)]
        bits = 32 if version == 4 else 128
        keys: list[int] = []
        kept_end = -1
        for key in sorted(table):
            end = (key >> 8) + (1 << (bits - (key & 0xFF))) - 1
            if end > kept_end:  # else covered by the enclosing range before it
                keys.append(key)
                kept_end = end
        return keys

    def entries(self, version: int, direction: str, keys: list[int] | None = None) -> Iterator[tuple[str, Decision]]:
        """(canonical text, decision) in address order (of ``keys`` from ``kept`` when given)."""
        table = self._best[(direction, version)]
        for key in self.kept(version, direction) if keys is None else keys:
            d = table[key]
            if version == 4 and key & 0xFF == 32 and "/" not in d.value:
                yield d.value + "/32", d  # a plain IPv4 address is already canonical (inet_pton took it)
            else:
                yield network_text(version, key >> 8, key & 0xFF), d


def _key(value: str) -> tuple[int, int] | None:
    """(version, first address << 8 | prefix): one int that sorts as (address, prefix) does."""
    if "/" not in value and ":" not in value:  # the usual case: a plain IPv4 address
        try:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, value), "big") << 8 | 32
        except (OSError, ValueError):
            return None
    parsed = parse_network(value)
    return None if parsed is None else (parsed[0], parsed[1] << 8 | parsed[2])


def _replaces(d: Decision, kept: Decision) -> bool:
    """The longer expiry wins; on a tie, the decision first in the stable order."""
    if d.expires_at != kept.expires_at:
        return d.expires_at > kept.expires_at
    return stable_key(d) < stable_key(kept)
