"""IndicatorBook: folds sightings from events and feeds into scored, expiring indicators."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from honeyguard.intel.params import ScoringParams, load_params
from honeyguard.intel.scoring import Accumulator, Score, SourceTally, score, strength_for_feed
from honeyguard.intel.sightings import Sighting, sightings_from_event
from honeyguard.model import Event
from honeyguard.model.indicator import EvidenceItem, Indicator, indicator_id


class _Entry:
    """What the book knows of one indicator (plain slots: one is made per new value, on the hot path)."""

    __slots__ = ("allowlisted", "cves", "evidence", "first_seen", "last_seen", "locations", "roles", "sensors",
                 "sightings", "tallies", "techniques", "type", "value")

    def __init__(self, type_: str, value: str, at: datetime) -> None:
        self.type = type_
        self.value = value
        self.first_seen = at
        self.last_seen = at
        self.sightings = 0
        self.roles: set[str] = set()
        self.sensors: set[str] = set()
        self.locations: set[str] = set()
        self.cves: set[str] = set()
        self.techniques: set[str] = set()
        self.tallies: dict[str, SourceTally] = {}
        # a min-heap of (strength, time, tie-breaker, item): the weakest kept item is on top
        self.evidence: list[tuple[float, datetime, int, tuple[str, str | None, str | None, str | None, str]]] = []
        self.allowlisted = False


@dataclass(frozen=True)
class Explanation:
    indicator: Indicator
    score: Score
    verified_by: str  # which corroboration rule verified it, or why not


def _evidence(entry: _Entry) -> list[EvidenceItem]:
    items = [EvidenceItem(at=at, reason=reason, event_id=event_id, sensor=sensor, location=location, source=source,
                          strength=weight)
             for weight, at, _, (reason, event_id, sensor, location, source) in entry.evidence]
    return sorted(items, key=lambda e: e.at, reverse=True)


class IndicatorBook:
    def __init__(self, params: ScoringParams | None = None) -> None:
        self.params = params or load_params()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._half_lives: dict[tuple[str, str], float] = {}
        self._strengths = dict(self.params.strength)
        self._evidence_kept = self.params.evidence_kept
        self._evidence_seq = 0
        self.touched: set[tuple[str, str]] = set()  # (type, value) changed since the caller last cleared it

    def _half_life(self, type_: str, role: str) -> float:
        key = (type_, role)
        found = self._half_lives.get(key)
        if found is None:
            found = self._half_lives[key] = self.params.half_life_seconds(type_, role)
        return found

    def __len__(self) -> int:
        return len(self._entries)

    def observe_events(self, events: Iterable[Event]) -> int:
        count = 0
        for event in events:
            for sighting in sightings_from_event(event):
                self._add(sighting, event.ts, source=f"sensor:{event.sensor}", location=event.location,
                          sensor=event.sensor, event_id=event.id)
            count += 1
        return count

    def observe_feed(self, *, type_: str, value: str, role: str, confidence: int, source: str,
                     at: datetime, trust: float = 1.0) -> None:
        """An imported indicator: its source's probability starts at confidence x trust, then decays."""
        strength = strength_for_feed(confidence, trust)
        sighting = Sighting(type=type_, value=value, role=role, behaviour="feed",
                            reason=f"imported from {source} with confidence {confidence}")
        self._add(sighting, at, source=f"feed:{source}", location=None, sensor=None, event_id=None,
                  strength=strength, is_feed=True)

    def allowlist(self, type_: str, value: str, at: datetime) -> None:
        entry = self._entries.get((type_, value)) or self._new_entry(type_, value, at)
        entry.allowlisted = True
        self.touched.add((type_, value))

    def unallow(self, type_: str, value: str) -> None:
        entry = self._entries.get((type_, value))
        if entry is not None and entry.allowlisted:
            entry.allowlisted = False
            self.touched.add((type_, value))

    def _new_entry(self, type_: str, value: str, at: datetime) -> _Entry:
        entry = _Entry(type_, value, at)
        self._entries[(type_, value)] = entry
        return entry

    def _add(self, s: Sighting, at: datetime, *, source: str, location: str | None, sensor: str | None,
             event_id: str | None, strength: float | None = None, is_feed: bool = False) -> None:
        key = (s.type, s.value)
        entry = self._entries.get(key) or self._new_entry(s.type, s.value, at)
        self.touched.add(key)
        if at < entry.first_seen:
            entry.first_seen = at
        if at > entry.last_seen:
            entry.last_seen = at
        entry.sightings += 1
        entry.roles.add(s.role)
        if s.cves:
            entry.cves.update(s.cves)
        if s.techniques:
            entry.techniques.update(s.techniques)
        if sensor:
            entry.sensors.add(sensor)
        if location:
            entry.locations.add(location)
        tally = entry.tallies.get(source)
        if tally is None:
            tally = entry.tallies[source] = SourceTally(source=source, is_feed=is_feed, roles={})
        weight = self._strengths.get(s.behaviour, 0.0) if strength is None else strength
        acc = tally.roles.get(s.role)
        if acc is None:
            acc = tally.roles[s.role] = Accumulator()
        acc.add(weight, at.timestamp(), self._half_life(s.type, s.role))
        kept = entry.evidence
        if len(kept) < self._evidence_kept or (weight, at) > kept[0][:2]:  # cheap test first
            self._evidence_seq += 1
            # a plain tuple: the EvidenceItem is built only when someone reads the indicator
            item = (weight, at, self._evidence_seq, (s.reason, event_id, sensor, location, source))
            if len(kept) < self._evidence_kept:
                heapq.heappush(kept, item)
            else:
                heapq.heapreplace(kept, item)

    # -- reading -------------------------------------------------------------------------------

    def get(self, type_: str, value: str, now: datetime) -> Indicator | None:
        entry = self._entries.get((type_, value))
        return None if entry is None else self._render(entry, now)[0]

    def find(self, value: str, now: datetime) -> list[Indicator]:
        return [self._render(e, now)[0] for (t, v), e in self._entries.items() if v == value]

    def indicators(self, now: datetime) -> list[Indicator]:
        return [self._render(entry, now)[0] for entry in self._entries.values()]

    def explain(self, type_: str, value: str, now: datetime) -> Explanation | None:
        entry = self._entries.get((type_, value))
        if entry is None:
            return None
        indicator, result, why = self._render(entry, now)
        return Explanation(indicator=indicator, score=result, verified_by=why)

    def _render(self, entry: _Entry, now: datetime) -> tuple[Indicator, Score, str]:
        result = score(list(entry.tallies.values()), entry.type, self.params, now)
        state, why = self._state(entry, result.confidence)
        indicator = Indicator(
            id=indicator_id(entry.type, entry.value), type=entry.type, value=entry.value,  # type: ignore[arg-type]
            roles=sorted(entry.roles), first_seen=entry.first_seen, last_seen=entry.last_seen,  # type: ignore[arg-type]
            sightings=entry.sightings, sensors=sorted(entry.sensors), locations=sorted(entry.locations),
            sources=sorted(entry.tallies), confidence=result.confidence, state=state,  # type: ignore[arg-type]
            cves=sorted(entry.cves), techniques=sorted(entry.techniques),
            evidence=_evidence(entry), updated_at=now,
        )
        return indicator, result, why

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
