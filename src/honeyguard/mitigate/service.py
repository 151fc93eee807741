"""The mitigation loop's working surface: reconcile indicators against the stored decisions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from msgspec.structs import replace

from honeyguard.mitigate.engine import Changes, Mitigator
from honeyguard.mitigate.in_force import InForce
from honeyguard.model.decision import Decision
from honeyguard.model.indicator import Indicator
from honeyguard.store.decisions import DecisionStore


@dataclass
class MitigationService:
    mitigator: Mitigator
    store: DecisionStore
    #: The decisions not withdrawn (what the store holds), those in force and their range-share
    #: counts, kept change by change: read again from the store only when its change counter moved
    #: past this service's own saves (the CLI added or withdrew one), or after a failed step.
    _book: InForce = field(init=False)
    _seq: int | None = None  # the store's change number the book matches; None: read it

    def __post_init__(self) -> None:
        self._book = InForce(self.mitigator.guardrails.share)

    @property
    def decided(self) -> dict[str, set[str]]:
        """Type -> the values with a decision in force, as of the last step (kept up to date, one
        dict for the service's life)."""
        return self._book.decided

    def reconcile(self, indicators: Iterable[Indicator]) -> Changes:
        """Decide for ``indicators``, withdraw what expired, and save every change."""
        try:
            return self._reconcile(indicators)
        except BaseException:  # the book may be half moved: the next step reads the store again
            self._seq = None
            raise

    def _reconcile(self, indicators: Iterable[Indicator]) -> Changes:
        now = self.mitigator.clock.now()
        seq = self.store.latest_seq()
        if seq != self._seq:
            self._book.reload(self.store.unwithdrawn())
            self._seq = seq
        expired = self._book.take_expired(now)
        changes = self.mitigator.reconcile(indicators, self._book.active, now=now, kept=True)
        already = {w.id for w in changes.withdrawn}
        changes.withdrawn.extend(replace(d, withdrawn_at=now) for d in expired if d.id not in already)
        for decision in changes.new:  # counted by the book once saved, as every other change
            if decision.action == "drop":
                self._book.share.remove(decision.value)
        self._save(changes.new, [*changes.new, *changes.renewed, *changes.withdrawn])
        return changes

    def _save(self, new: list[Decision], changed: list[Decision]) -> None:
        if not changed:
            return
        fresh = {d.id for d in new}  # ids made this step: no row to look for
        first = self.store.save_numbered(changed, fresh=fresh)
        # numbers right after the book's: nobody else saved in between, the book stays current
        self._seq = first + len(changed) - 1 if first - 1 == self._seq else None
        self._book.apply(changed)
