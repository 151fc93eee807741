"""The mitigation loop's working surface: reconcile indicators against the stored decisions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from msgspec.structs import replace

from honeyguard.mitigate.engine import Changes, Mitigator
from honeyguard.model.decision import Decision
from honeyguard.model.indicator import Indicator
from honeyguard.store.decisions import DecisionStore


@dataclass
class MitigationService:
    mitigator: Mitigator
    store: DecisionStore
    #: The decisions not withdrawn, by id in change order: what the store holds, read again only
    #: when its change counter moved past this service's own saves (the CLI added or withdrew one).
    #: Reading and decoding every one of them each step measured more than the step's own work
    #: once thousands were in force.
    _unwithdrawn: dict[str, Decision] = field(default_factory=dict)
    _seq: int | None = None  # the store's change number the copy matches; None: read it

    def reconcile(self, indicators: Iterable[Indicator]) -> Changes:
        """Decide for ``indicators``, withdraw what expired, and save every change."""
        now = self.mitigator.clock.now()
        active, expired = self._current(now)
        changes = self.mitigator.reconcile(indicators, active)
        already = {w.id for w in changes.withdrawn}
        changes.withdrawn.extend(replace(d, withdrawn_at=now) for d in expired if d.id not in already)
        self._save([*changes.new, *changes.renewed, *changes.withdrawn])
        return changes

    def _current(self, now: datetime) -> tuple[dict[str, Decision], list[Decision]]:
        """The decisions in force by indicator id (the newest when several), and those expired
        but not yet withdrawn: as ``store.active`` and ``store.expired_unwithdrawn`` answer."""
        seq = self.store.latest_seq()
        if seq != self._seq:
            self._unwithdrawn = {d.id: d for d in self.store.unwithdrawn()}
            self._seq = seq
        active: dict[str, Decision] = {}
        expired: list[Decision] = []
        for decision in self._unwithdrawn.values():
            if decision.expires_at > now:
                active[decision.indicator_id] = decision
            else:
                expired.append(decision)
        return active, expired

    def _save(self, changed: list[Decision]) -> None:
        if not changed:
            return
        first = self.store.save_numbered(changed)
        # numbers right after the copy's: nobody else saved in between, the copy stays current
        self._seq = first + len(changed) - 1 if first - 1 == self._seq else None
        for decision in changed:
            self._unwithdrawn.pop(decision.id, None)  # a renewed one moves to the end, as its number
            if decision.withdrawn_at is None:
                self._unwithdrawn[decision.id] = decision
