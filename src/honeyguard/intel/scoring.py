"""The confidence formula (docs/intel.md), and the explanation of every term.

Evidence accumulates per (source, role) in an exponentially decaying sum:
    A(now) = A(t) * 2^(-(now - t) / half_life(type, role)) + strength
A source's probability is p = min(cap, 1 - exp(-sum over its roles of A(now)));
sources combine by noisy-OR:  confidence = 100 * (1 - prod over sources of (1 - p)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import msgspec

from honeyguard.intel.params import ScoringParams


class Accumulator(msgspec.Struct, kw_only=True, gc=False):
    """A decaying sum; times are POSIX seconds (datetime arithmetic costs too much on the hot path)."""

    value: float = 0.0
    at: float | None = None

    def add(self, strength: float, at: float, half_life_s: float) -> None:
        self.value = self.decayed(at, half_life_s) + strength
        if self.at is None or at > self.at:
            self.at = at

    def decayed(self, now: float, half_life_s: float) -> float:
        if self.at is None:
            return 0.0
        age = now - self.at
        return self.value if age <= 0 else self.value * math.pow(2.0, -age / half_life_s)


class SourceTally(msgspec.Struct, kw_only=True):
    """What one independent observer (a sensor, or an imported feed) has seen of an indicator."""

    source: str
    is_feed: bool = False
    roles: dict[str, Accumulator] = {}


class RoleTerm(msgspec.Struct, frozen=True, kw_only=True):
    role: str
    half_life_days: float
    accumulated: float  # before decay
    decayed: float  # at the time of scoring
    last_at: datetime | None


class SourceTerm(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    probability: float
    capped: bool
    roles: list[RoleTerm]


class Score(msgspec.Struct, frozen=True, kw_only=True):
    confidence: int
    sources: list[SourceTerm]
    formula: str = "confidence = 100 * (1 - prod(1 - p_source)); p_source = min(cap, 1 - exp(-sum A_role))"


def score(tallies: list[SourceTally], type_: str, params: ScoringParams, now: datetime) -> Score:
    terms = [_source_term(tally, type_, params, now.timestamp()) for tally in tallies]
    survival = 1.0
    for term in terms:
        survival *= 1.0 - term.probability
    confidence = round(100.0 * (1.0 - survival))
    return Score(confidence=max(0, min(100, confidence)), sources=terms)


def confidence(sources: Iterable[tuple[bool, dict[str, Accumulator]]], half_life: Callable[[str], float],
               source_cap: float, now: float) -> int:
    """``score(...).confidence`` without the explanation (the same arithmetic, in the same order):
    the defense loop needs only the figure, for every indicator each batch touched.
    ``sources``: (is_feed, role -> accumulator) per source; ``half_life``: seconds for a role."""
    survival = 1.0
    for is_feed, roles in sources:
        total = 0.0
        for role in sorted(roles):
            total += roles[role].decayed(now, half_life(role))
        survival *= 1.0 - min(1.0 - math.exp(-total), 1.0 if is_feed else source_cap)
    return max(0, min(100, round(100.0 * (1.0 - survival))))


def confidence_of_one(acc: Accumulator, half_life_s: float, cap: float, now: float) -> int:
    """``confidence`` of one source with one role, without its loops and calls (the defense loop
    asks it of every indicator each batch touched). The same float operations, so the same figure:
    the survival is ``1 - p`` and the result ``1 - survival``, not ``p``."""
    survival = 1.0 - min(1.0 - math.exp(-acc.decayed(now, half_life_s)), cap)
    return max(0, min(100, round(100.0 * (1.0 - survival))))


def confidence_of_source(roles: dict[str, Accumulator], half_lives: dict[str, float], cap: float, now: float) -> int:
    """``confidence`` of one source with several roles (``half_lives``: seconds by role), without
    the generator and callbacks: the same float operations in the same order, so the same figure."""
    total = 0.0
    for role in sorted(roles):
        total += roles[role].decayed(now, half_lives[role])
    survival = 1.0 - min(1.0 - math.exp(-total), cap)
    return max(0, min(100, round(100.0 * (1.0 - survival))))


def _source_term(tally: SourceTally, type_: str, params: ScoringParams, now: float) -> SourceTerm:
    roles = []
    total = 0.0
    for role, acc in sorted(tally.roles.items()):
        half_life = params.half_life_seconds(type_, role)
        decayed = acc.decayed(now, half_life)
        total += decayed
        roles.append(RoleTerm(role=role, half_life_days=half_life / 86400, accumulated=acc.value,
                              decayed=decayed,
                              last_at=None if acc.at is None else datetime.fromtimestamp(acc.at, UTC)))
    raw = 1.0 - math.exp(-total)
    cap = 1.0 if tally.is_feed else params.source_cap
    return SourceTerm(source=tally.source, probability=min(raw, cap), capped=raw > cap, roles=roles)


def strength_for_feed(confidence: int, trust: float) -> float:
    """The accumulator that makes a feed source's probability equal its stated confidence x trust."""
    p = min(0.999, max(0.0, confidence / 100.0 * trust))
    return -math.log(1.0 - p)
