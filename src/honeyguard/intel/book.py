"""IndicatorBook: folds sightings from events and feeds into scored, expiring indicators.

The fold is the hot path of ingest (every committed event goes through it), so an indicator's
record is lean and mostly invisible to the garbage collector (see _Entry): distinct sensors,
roles... in dicts of ``None``, per-source decaying sums in gc=False records, evidence as tuples
in a heap; the typed Indicator is built only when someone reads it. Where _foldnative is built,
the record is its C struct instead, read through ``record()`` (the same _Entry, made on demand).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from honeyguard.intel import foldnative
from honeyguard.intel.floors import PolicyFloors
from honeyguard.intel.params import ScoringParams, load_params
from honeyguard.intel.scoring import (
    Accumulator,
    Score,
    SourceTally,
    confidence,
    confidence_of_one,
    confidence_of_source,
    score,
    strength_for_feed,
)
from honeyguard.intel.sightings import seen_in
from honeyguard.model import Event
from honeyguard.model.indicator import EvidenceItem, Indicator, indicator_id

FEED_PREFIX = "feed:"
#: Events per call of the native fold (about a millisecond of work).
NATIVE_FOLD_SLICE = 256

#: (strength, at, tie-breaker, reason, event_id, sensor, location, source); the heap orders by the first three
_Evidence = tuple[float, datetime, int, str, str | None, str | None, str | None, str]


class _Source(msgspec.Struct, gc=False):
    """One source's decaying sums, by role."""

    roles: dict[str, Accumulator]


class _Entry(msgspec.Struct, gc=False):
    """What the book knows of one indicator. Nothing in it can refer back to it, so the garbage
    collector need not track it, nor what it holds (dicts of strings, gc=False records) but its
    evidence list: with every entry, set and tally tracked, collections over a large book measured
    as much CPU as the fold itself."""

    type: str
    value: str
    first_seen: datetime
    last_seen: datetime
    id: str | None = None  # indicator_id, computed when first read
    sightings: int = 0
    roles: dict[str, None] = {}
    sensors: dict[str, None] = {}
    locations: dict[str, None] = {}
    cves: dict[str, None] | None = None  # made on the first one: most indicators have none
    techniques: dict[str, None] | None = None
    tallies: dict[str, _Source] = {}  # by source
    evidence: list[_Evidence] = []  # a min-heap: the weakest kept item first
    allowlisted: bool = False
    touched: bool = False  # listed in the book's touched list
    # For an upper bound of the confidence without computing it (see _upper_confidence): every
    # weight added, and the slowest half-life of its roles.
    weights: float = 0.0
    slowest: float = 0.0


_native = foldnative.load(_Entry, _Source)
NATIVE_AVAILABLE = _native is not None


@dataclass(frozen=True)
class Explanation:
    indicator: Indicator
    score: Score
    verified_by: str  # which corroboration rule verified it, or why not


def _with(known: dict[str, None] | None, values: Iterable[str]) -> dict[str, None]:
    """``known`` (made if None) with ``values`` added."""
    if known is None:
        return dict.fromkeys(values)
    for value in values:
        known[value] = None
    return known


def _strengths(given: dict[str, float]) -> dict[str, float]:
    """The strengths as floats, each checked (params built in code skip the file's validation):
    both folds then add the same values."""
    out = {}
    for behaviour, strength in given.items():
        value = float(strength)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"strength of {behaviour!r} must be within 0..1, not {strength!r}")
        out[behaviour] = value
    return out


def _upper_confidence(entry: _Entry, now: float) -> int:
    """At least the entry's confidence at ``now`` (POSIX seconds). Each role's sum is at most the
    weights added to it, decayed from its newest sighting (no later than the entry's last_seen) at
    its half-life (no longer than the slowest); noisy-OR of uncapped sources is 1 - exp(-sum of
    all): 100 * (1 - exp(-weights * 2^(-age / slowest))), rounded up, plus one for float rounding."""
    weights = entry.weights
    age = now - entry.last_seen.timestamp()
    if age > 0.0 and entry.slowest > 0.0:
        weights *= math.pow(2.0, -age / entry.slowest)
    return min(100, math.ceil(100.0 * (1.0 - math.exp(-weights))) + 1)


def _evidence(entry: _Entry) -> list[EvidenceItem]:
    items = [
        EvidenceItem(
            at=at, reason=reason, event_id=event_id, sensor=sensor, location=location, source=source, strength=weight
        )
        for weight, at, _, reason, event_id, sensor, location, source in entry.evidence
    ]
    return sorted(items, key=lambda e: e.at, reverse=True)


class IndicatorBook:
    def __init__(self, params: ScoringParams | None = None, *, native: bool = True) -> None:
        """``native``: fold with _foldnative when it is built (False: always the Python fold, the
        reference the tests hold it to)."""
        self.params = params or load_params()
        self._native = _native if native else None
        # type -> value -> entry (no key tuple per sighting): an _Entry, or the native fold's record
        self._entries: dict[str, dict[str, Any]] = {}
        self._half_lives: dict[str, dict[str, float]] = {}  # type -> role -> seconds
        self._strengths = _strengths(self.params.strength)
        self._evidence_kept = self.params.evidence_kept
        self._evidence_seq = 0
        self._sources: dict[str, str] = {}  # sensor -> "sensor:<name>"
        self._names: dict[str, str] = {}  # the native fold's one copy of each sensor and location name
        self._touched: list[Any] = []  # entries changed since take_touched, in order
        self._native_busy = False  # a native fold under way (it refuses to be re-entered)

    def _half_life(self, type_: str, role: str) -> float:
        by_role = self._half_lives.get(type_)
        if by_role is None:
            by_role = self._half_lives[type_] = {}
        found = by_role.get(role)
        if found is None:
            found = by_role[role] = self.params.half_life_seconds(type_, role)
        return found

    def __len__(self) -> int:
        return sum(len(by_value) for by_value in self._entries.values())

    def take_touched(
        self, now: datetime, wanted: Callable[[str, str, int], bool] | None = None, *, evidence: bool = True
    ) -> list[Indicator]:
        """The indicators changed since the last call, as of ``now``; with ``wanted``, only those for
        which ``wanted(type, value, confidence)`` is true (the others are not built at all); without
        ``evidence``, their evidence lists are left empty (the defense loop decides without them).
        ``wanted`` must not accept a confidence it refuses a higher one for: it is asked first with
        an upper bound, and only what it accepts is scored exactly (most touched indicators of a
        busy stream are weak or decayed, and their exact figure would only be dropped)."""
        touched, self._touched = self._touched, []
        if wanted is None:
            for entry in touched:
                entry.touched = False
            return [self._indicator(entry, now) for entry in touched]
        posix = now.timestamp()
        out = []
        for entry in self._candidates(touched, posix, wanted):
            record = self._record(entry, evidence=evidence)
            found = self._confidence(record, posix)
            if wanted(record.type, record.value, found):
                out.append(self._build(entry, record, now, found, self._state(record, found)[0], evidence=evidence))
        return out

    def _record(self, entry: Any, *, evidence: bool = True) -> _Entry:
        """What the book knows of an indicator, as the Python fold keeps it (the native fold's
        record in that form, made now; without ``evidence``, its evidence list left empty)."""
        if self._native is None:
            return entry  # type: ignore[no-any-return]
        record: _Entry = entry.record(evidence)
        return record

    def _candidates(self, touched: list[Any], posix: float, wanted: Callable[[str, str, int], bool]) -> list[Any]:
        """The touched entries, unmarked, that ``wanted`` accepts at their confidence's upper bound:
        ``wanted`` does not want a lower confidence more than a higher one, so when it refuses the
        bound the exact figure (several decays and logs) need not be computed."""
        if self._native is not None:
            if type(wanted) is PolicyFloors and type(wanted.floors) is dict and type(wanted.decided) is dict:
                # its tables read in C: no call per entry (a subclass may answer otherwise: it is called)
                return list(self._native.candidates(touched, posix, wanted, wanted.floors, wanted.decided))
            return list(self._native.candidates(touched, posix, wanted))
        for entry in touched:
            entry.touched = False
        return [e for e in touched if wanted(e.type, e.value, _upper_confidence(e, posix))]

    def observe_events(self, events: Iterable[Event], *, between: Callable[[], None] | None = None) -> int:
        """Fold the events' sightings in; the number of events. ``between``: called after each
        slice of the native fold (the collector's decoder may want the GIL)."""
        if self._native is None:
            return self._observe_events(events)
        if not isinstance(events, list):
            return int(self._native.observe(self, events))
        # A slice at a time: the C fold holds the GIL until it returns, and a step of 20,000
        # events held it some 60 ms while the collector's DuckDB writer waited for it.
        count = 0
        for at in range(0, len(events), NATIVE_FOLD_SLICE):
            count += int(self._native.observe(self, events[at : at + NATIVE_FOLD_SLICE]))
            if between is not None:
                between()
        return count

    def _observe_events(self, events: Iterable[Event]) -> int:
        """The fold in Python: the reference _foldnative.observe follows step by step."""
        count = 0
        sources = self._sources
        add = self._add
        strengths = self._strengths
        for event in events:
            count += 1
            seen = seen_in(event)
            if not seen:
                continue
            sensor = event.sensor
            source = sources.get(sensor)
            if source is None:
                source = sources[sensor] = f"sensor:{sensor}"
            at = event.ts
            posix = at.timestamp()
            for type_, value, role, behaviour, reason in seen:
                add(
                    type_,
                    value,
                    role,
                    strengths.get(behaviour, 0.0),
                    reason,
                    at,
                    posix,
                    source,
                    event.location,
                    sensor,
                    event.id,
                    event.cves,
                    event.techniques,
                )
        return count

    def observe_feed(
        self, *, type_: str, value: str, role: str, confidence: int, source: str, at: datetime, trust: float = 1.0
    ) -> None:
        """An imported indicator: its source's probability starts at confidence x trust, then decays."""
        add = self._add if self._native is None else self._add_natively
        add(
            type_,
            value,
            role,
            strength_for_feed(confidence, trust),
            f"imported from {source} with confidence {confidence}",
            at,
            at.timestamp(),
            f"{FEED_PREFIX}{source}",
            None,
            None,
            None,
            (),
            (),
        )

    def allowlist(self, type_: str, value: str, at: datetime) -> None:
        entry = self._entry(type_, value, at)
        entry.allowlisted = True
        self._touch(entry)

    def unallow(self, type_: str, value: str) -> None:
        entry = self._entries.get(type_, {}).get(value)
        if entry is not None and entry.allowlisted:
            entry.allowlisted = False
            self._touch(entry)

    def _entry(self, type_: str, value: str, at: datetime) -> Any:
        by_value = self._entries.get(type_)
        if by_value is None:
            by_value = self._entries[type_] = {}
        entry = by_value.get(value)
        if entry is None:
            made = _Entry(type_, value, at, at) if self._native is None else self._native.Entry(type_, value, at)
            entry = by_value[value] = made
        return entry

    def _touch(self, entry: Any) -> None:
        if not entry.touched:
            entry.touched = True
            self._touched.append(entry)

    def _add_natively(self, *sighting: Any) -> None:
        """_add, by the native fold (into its records)."""
        assert self._native is not None
        self._native.add(self, *sighting)

    def _add(
        self,
        type_: str,
        value: str,
        role: str,
        weight: float,
        reason: str,
        at: datetime,
        posix: float,
        source: str,
        location: str | None,
        sensor: str | None,
        event_id: str | None,
        cves: Iterable[str],
        techniques: Iterable[str],
    ) -> None:
        """One sighting, by the Python fold (into its _Entry records)."""
        by_value = self._entries.get(type_)
        entry = None if by_value is None else by_value.get(value)
        if entry is None:
            entry = self._entry(type_, value, at)
        if not entry.touched:
            entry.touched = True
            self._touched.append(entry)
        if at < entry.first_seen:
            entry.first_seen = at
        if at > entry.last_seen:
            entry.last_seen = at
        entry.sightings += 1
        entry.weights += weight
        if cves:
            entry.cves = _with(entry.cves, cves)
        if techniques:
            entry.techniques = _with(entry.techniques, techniques)
        entry.roles[role] = None
        if sensor:
            entry.sensors[sensor] = None
        if location:
            entry.locations[location] = None
        tally = entry.tallies.get(source)
        if tally is None:
            tally = entry.tallies[source] = _Source({})
        roles = tally.roles
        acc = roles.get(role)
        if acc is None:  # a new sum: nothing to decay yet
            roles[role] = Accumulator(value=weight, at=posix)
            half_life = self._half_life(type_, role)
            if half_life > entry.slowest:
                entry.slowest = half_life
        elif (last := acc.at) is None:  # Accumulator.add, inline: this runs once per sighting
            acc.value, acc.at = weight, posix
        elif posix <= last:  # not newer than the sum: added without decay
            acc.value += weight
        else:
            acc.value = acc.value * math.pow(2.0, (last - posix) / self._half_life(type_, role)) + weight
            acc.at = posix
        kept = entry.evidence
        full = len(kept) >= self._evidence_kept
        if full:  # the cheap test first: most sightings of a busy indicator add no evidence
            weakest = kept[0]
            if weight < weakest[0] or (weight == weakest[0] and at <= weakest[1]):
                return
        self._evidence_seq += 1
        item = (weight, at, self._evidence_seq, reason, event_id, sensor, location, source)
        if full:
            heapq.heapreplace(kept, item)
        else:
            heapq.heappush(kept, item)

    # -- reading -------------------------------------------------------------------------------

    def get(self, type_: str, value: str, now: datetime) -> Indicator | None:
        entry = self._entries.get(type_, {}).get(value)
        return None if entry is None else self._indicator(entry, now)

    def find(self, value: str, now: datetime) -> list[Indicator]:
        found = (by_value.get(value) for by_value in self._entries.values())
        return [self._indicator(e, now) for e in found if e is not None]

    def indicators(self, now: datetime) -> list[Indicator]:
        return [self._indicator(entry, now) for by_value in self._entries.values() for entry in by_value.values()]

    def explain(self, type_: str, value: str, now: datetime) -> Explanation | None:
        entry = self._entries.get(type_, {}).get(value)
        if entry is None:
            return None
        record = self._record(entry)
        tallies = [
            SourceTally(source=source, is_feed=source.startswith(FEED_PREFIX), roles=tally.roles)
            for source, tally in record.tallies.items()
        ]
        result = score(tallies, record.type, self.params, now)
        state, why = self._state(record, result.confidence)
        indicator = self._build(entry, record, now, result.confidence, state)
        return Explanation(indicator=indicator, score=result, verified_by=why)

    def _indicator(self, entry: Any, now: datetime) -> Indicator:
        """The indicator as of ``now`` (its confidence without the explanation's terms)."""
        record = self._record(entry)
        found = self._confidence(record, now.timestamp())
        return self._build(entry, record, now, found, self._state(record, found)[0])

    def _confidence(self, entry: _Entry, now: float) -> int:
        type_ = entry.type
        if len(entry.tallies) == 1:  # most indicators: one sensor saw them (in one role or a few)
            ((source, tally),) = entry.tallies.items()
            cap = 1.0 if source.startswith(FEED_PREFIX) else self.params.source_cap
            roles = tally.roles
            if len(roles) == 1:
                ((role, acc),) = roles.items()
                return confidence_of_one(acc, self._half_life(type_, role), cap, now)
            half_lives = [self._half_life(type_, role) for role in roles]
            return confidence_of_source(roles, dict(zip(roles, half_lives, strict=True)), cap, now)
        return confidence(
            ((source.startswith(FEED_PREFIX), tally.roles) for source, tally in entry.tallies.items()),
            lambda role: self._half_life(type_, role),
            self.params.source_cap,
            now,
        )

    def _build(
        self, entry: Any, record: _Entry, now: datetime, confidence: int, state: str, *, evidence: bool = True
    ) -> Indicator:
        """The Indicator of ``record`` (``entry``'s: its id is kept there once computed)."""
        if record.id is None:
            record.id = entry.id = indicator_id(record.type, record.value)
        return Indicator(
            id=record.id,
            type=record.type,  # type: ignore[arg-type]
            value=record.value,
            roles=sorted(record.roles),  # type: ignore[arg-type]
            first_seen=record.first_seen,
            last_seen=record.last_seen,
            sightings=record.sightings,
            sensors=sorted(record.sensors),
            locations=sorted(record.locations),
            sources=sorted(record.tallies),
            confidence=confidence,
            state=state,  # type: ignore[arg-type]
            cves=sorted(record.cves or ()),
            techniques=sorted(record.techniques or ()),
            evidence=_evidence(record) if evidence else [],
            updated_at=now,
        )

    def _state(self, entry: _Entry, confidence: int) -> tuple[str, str]:
        rule = self.params.verify
        if entry.allowlisted:
            return "allowlisted", "allowlisted: never leaves this state"
        if confidence < self.params.expire.below_confidence:
            return "expired", f"confidence {confidence} < {self.params.expire.below_confidence}"
        if confidence < rule.min_confidence:
            return "candidate", f"confidence {confidence} < {rule.min_confidence}"
        corroborated = [
            (len(entry.sensors), rule.min_sensors, "sensors"),
            (len(entry.locations), rule.min_locations, "locations"),
            (len(entry.tallies), rule.min_sources, "sources"),
        ]
        for have, need, what in corroborated:
            if have >= need:
                return "verified", f"confidence {confidence} >= {rule.min_confidence} and {have} {what} >= {need}"
        return "candidate", ("not corroborated: " + ", ".join(f"{h} {w} < {n}" for h, n, w in corroborated))
