"""The decisions not withdrawn, kept up to date change by change instead of rebuilt each step.

The defense loop reconciles a few indicators four times a second while tens of thousands of
decisions stay in force: rebuilding the active set, the expiries and the range-share counts from
every one of them at each step measured more than the step's own work. Here each saved change
moves only what it touches; an expiry leaves by a heap ordered by expiry.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime

from honeyguard.mitigate.guardrails import RangeShare
from honeyguard.model.decision import Decision


class InForce:
    """What ``store.unwithdrawn`` holds, and of it what is in force: the newest decision in force
    of each indicator (``active``, as ``store.active`` answers), their expiries, and the range
    share's counts of the active drops."""

    def __init__(self, share: RangeShare, *, stale_slack: int = 1024) -> None:
        self.share = share
        self._stale_slack = stale_slack  # expiry entries beyond twice the decisions: compacted
        self.unwithdrawn: dict[str, Decision] = {}  # by id, in change order (as saved)
        self.active: dict[str, Decision] = {}  # by indicator id: the newest in force
        self._rank: dict[str, int] = {}  # change order of each unwithdrawn one (expiries come out in it)
        self._next_rank = 0
        self._in_force: dict[str, dict[str, Decision]] = {}  # by indicator id, then id, in change order
        self._expiries: list[tuple[datetime, str]] = []  # a heap; entries left by renewals are skipped
        #: type -> the values with a decision in force (the defense loop's PolicyFloors reads it)
        self.decided: dict[str, set[str]] = {}

    def reload(self, unwithdrawn: Iterable[Decision]) -> None:
        """Start again from the store's decisions not withdrawn, in change order."""
        self.unwithdrawn, self.active, self._rank, self._in_force = {}, {}, {}, {}
        self._expiries = []
        self.share.counts.clear()
        self.decided.clear()  # (cleared, not replaced: it is shared)
        for decision in unwithdrawn:
            self._put(decision)

    def take_expired(self, now: datetime) -> list[Decision]:
        """The decisions whose expiry came (at or before ``now``), in change order: they leave
        ``active`` now and ``unwithdrawn`` once saved withdrawn."""
        expired: list[Decision] = []
        heap = self._expiries
        while heap and heap[0][0] <= now:
            expires_at, id_ = heapq.heappop(heap)
            decision = self.unwithdrawn.get(id_)
            if decision is None or decision.expires_at != expires_at or not self._leave_force(decision):
                continue  # withdrawn, renewed since, or already out of force
            expired.append(decision)
        expired.sort(key=lambda d: self._rank[d.id])
        return expired

    def apply(self, changed: Iterable[Decision]) -> None:
        """Saved changes, in save order: a renewed one moves to the end, a withdrawn one leaves."""
        for decision in changed:
            old = self.unwithdrawn.pop(decision.id, None)
            if old is not None:
                self._rank.pop(decision.id)
                self._leave_force(old)
            if decision.withdrawn_at is None:
                self._put(decision)
        if len(self._expiries) > 2 * len(self.unwithdrawn) + self._stale_slack:  # renewals' stale entries
            self._expiries = [(d.expires_at, d.id) for d in self.unwithdrawn.values() if self._is_in_force(d)]
            heapq.heapify(self._expiries)

    def _put(self, decision: Decision) -> None:
        self.unwithdrawn[decision.id] = decision
        self._rank[decision.id] = self._next_rank
        self._next_rank += 1
        # in force until take_expired says otherwise, even when already expired: the next step
        # takes it out (as reading the store then would)
        self._in_force.setdefault(decision.indicator_id, {})[decision.id] = decision
        heapq.heappush(self._expiries, (decision.expires_at, decision.id))
        self._refresh_active(decision.indicator_id)

    def _is_in_force(self, decision: Decision) -> bool:
        return decision.id in self._in_force.get(decision.indicator_id, {})

    def _leave_force(self, decision: Decision) -> bool:
        same = self._in_force.get(decision.indicator_id)
        if same is None or same.pop(decision.id, None) is None:
            return False
        if not same:
            del self._in_force[decision.indicator_id]
        self._refresh_active(decision.indicator_id)
        return True

    def _refresh_active(self, indicator_id: str) -> None:
        """The newest decision in force for the indicator, the range share's count of its drop, and
        whether its value is decided."""
        same = self._in_force.get(indicator_id)
        newest = next(reversed(same.values())) if same else None
        old = self.active.get(indicator_id)
        if old is newest:
            return
        if old is not None and old.action == "drop":
            self.share.remove(old.value)
        if newest is None:
            del self.active[indicator_id]
            assert old is not None
            values = self.decided[old.type]
            values.discard(old.value)
            if not values:  # (as large as the decisions in force)
                del self.decided[old.type]
            return
        self.active[indicator_id] = newest
        if old is None:
            self.decided.setdefault(newest.type, set()).add(newest.value)
        if newest.action == "drop":
            self.share.add(newest.value)
