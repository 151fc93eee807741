"""The intelligence room's working surface: a book of indicators kept current from events,
imports and the allowlist, with what must persist kept in the state store."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from honeyguard.clock import Clock
from honeyguard.intel.book import Explanation, IndicatorBook
from honeyguard.intel.imports import ImportResult, read_import
from honeyguard.intel.params import ScoringParams
from honeyguard.model import Event
from honeyguard.model.indicator import Indicator
from honeyguard.store.intel import AllowItem, FeedItem, IntelStore


class IntelService:
    def __init__(self, store: IntelStore, clock: Clock, params: ScoringParams | None = None) -> None:
        self.store = store
        self.clock = clock
        self.book = IndicatorBook(params)
        self._feed_seq = 0
        self._allowed: set[tuple[str, str]] = set()

    def load(self, events: Iterable[Event]) -> int:
        """Rebuild from the stored feed items, the allowlist and the given events (oldest first)."""
        self.sync()
        return self.fold(events)

    def sync(self) -> None:
        """Catch up with imports and allowlist changes other processes (the CLI) saved."""
        items, self._feed_seq = self.store.feed(self._feed_seq)
        for item in items:
            self._observe_feed(item)
        now = self.clock.now()
        allowed = {(a.type, a.value): a for a in self.store.allowed(now)}
        for key in allowed.keys() - self._allowed:
            self.book.allowlist(key[0], key[1], allowed[key].created_at)
        for key in self._allowed - allowed.keys():
            self.book.unallow(*key)
        self._allowed = set(allowed)

    def fold(self, events: Iterable[Event], *, between: Callable[[], None] | None = None) -> int:
        return self.book.observe_events(events, between=between)

    def import_file(self, path: Path, *, source: str | None = None) -> ImportResult:
        result = read_import(path)
        now = self.clock.now()
        name = source or result.source
        items = [
            FeedItem(
                source=name, type=i.type, value=i.value, role=i.role, confidence=i.confidence, at=i.valid_from or now
            )
            for i in result.indicators
        ]
        self.store.save_feed(items)
        self.sync()
        return result

    def _observe_feed(self, item: FeedItem) -> None:
        self.book.observe_feed(
            type_=item.type,
            value=item.value,
            role=item.role,
            confidence=item.confidence,
            source=item.source,
            at=item.at,
        )

    def allow(self, type_: str, value: str, reason: str, expires_at: datetime | None) -> None:
        now = self.clock.now()
        self.store.allow(AllowItem(type=type_, value=value, reason=reason, expires_at=expires_at, created_at=now))
        self.sync()

    def indicators(self) -> list[Indicator]:
        return self.book.indicators(self.clock.now())

    def find(self, value: str) -> list[Indicator]:
        return self.book.find(value, self.clock.now())

    def explain(self, value: str) -> list[Explanation]:
        now = self.clock.now()
        found = [self.book.explain(i.type, i.value, now) for i in self.book.find(value, now)]
        return [e for e in found if e is not None]

    def take_changed(
        self, wanted: Callable[[str, str, int], bool] | None = None, *, evidence: bool = True
    ) -> list[Indicator]:
        """Indicators touched since the last call (for the mitigation loop); with ``wanted``, only
        those for which ``wanted(type, value, confidence)`` holds; without ``evidence``, with their
        evidence lists empty."""
        return self.book.take_touched(self.clock.now(), wanted, evidence=evidence)
