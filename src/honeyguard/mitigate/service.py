"""The mitigation loop's working surface: reconcile indicators against the stored decisions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from msgspec.structs import replace

from honeyguard.mitigate.engine import Changes, Mitigator
from honeyguard.model.indicator import Indicator
from honeyguard.store.decisions import DecisionStore


@dataclass
class MitigationService:
    mitigator: Mitigator
    store: DecisionStore

    def reconcile(self, indicators: Iterable[Indicator]) -> Changes:
        """Decide for ``indicators``, withdraw what expired, and save every change."""
        now = self.mitigator.clock.now()
        active = self.store.active(now)
        changes = self.mitigator.reconcile(indicators, active)
        expired = self.store.expired_unwithdrawn(now)
        already = {w.id for w in changes.withdrawn}
        changes.withdrawn.extend(replace(d, withdrawn_at=now) for d in expired if d.id not in already)
        self.store.save([*changes.new, *changes.renewed, *changes.withdrawn])
        return changes
