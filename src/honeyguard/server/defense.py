"""The collector's defense loop: fold newly stored events into indicators, reconcile decisions.

Ingest hands over the events it committed (new ones only); the loop folds them, then decides
for the indicators they touched, at most every ``interval`` seconds, and sweeps expiries.
Indicators are derived data: at start they are rebuilt from the event store and the imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from honeyguard.clock import Clock, Entropy, FastEntropy
from honeyguard.config import Settings
from honeyguard.intel.floors import PolicyFloors
from honeyguard.intel.service import IntelService
from honeyguard.mitigate import Guardrails, Mitigator, load_policy
from honeyguard.mitigate.engine import Changes
from honeyguard.mitigate.lists import Allowlist, DomainGuard, NeverBlock
from honeyguard.mitigate.service import MitigationService
from honeyguard.model import Event, UuidV7Factory, decode_event
from honeyguard.store.decisions import DecisionStore
from honeyguard.store.events import EventQuery, EventStore
from honeyguard.store.intel import IntelStore
from honeyguard.store.state import StateStore

log = logging.getLogger(__name__)
SWEEP_SECONDS = 60.0  # every indicator re-decided (expiry, decay)
SYNC_SECONDS = 5.0  # imports and allowlist changes made by the CLI picked up


class StoredBlastRadius:
    """Blast-radius figures kept by `flows analyze --store`, re-read now and then."""

    def __init__(self, store: IntelStore, clock: Clock, refresh_seconds: float = 60.0) -> None:
        self._store = store
        self._clock = clock
        self._refresh = refresh_seconds
        self._figures: dict[str, int] = {}
        self._read_at: float | None = None

    def internal_hosts(self, value: str) -> int | None:
        now = self._clock.monotonic()
        if self._read_at is None or now - self._read_at >= self._refresh:
            self._figures = self._store.blast_radius()
            self._read_at = now
        return self._figures.get(value)


def build_mitigation(
    settings: Settings, state: StateStore, clock: Clock, entropy: Entropy | None = None
) -> MitigationService:
    cfg = settings.mitigate
    guardrails = Guardrails(
        never_block=NeverBlock.builtin(org_ranges=cfg.org_ranges, sensors=cfg.sensor_addresses),
        domains=DomainGuard.load(
            Path(cfg.popular_domains_file) if cfg.popular_domains_file else None, cfg.popular_domains_top
        ),
        allowlist=Allowlist(tuple(cfg.allowlist)),
        settings=cfg,
        blast_radius=StoredBlastRadius(IntelStore(state), clock),
    )
    policy = load_policy(Path(cfg.policy_file) if cfg.policy_file else None)
    mitigator = Mitigator(
        policy=policy,
        guardrails=guardrails,
        clock=clock,
        # decision ids are identifiers, not secrets: an os.urandom call per id measured a tenth of
        # deciding (the store's bouncer keys keep the system entropy)
        ids=UuidV7Factory(entropy or FastEntropy()),
        simulation=cfg.simulation,
    )
    return MitigationService(mitigator, DecisionStore(state, clock=clock, entropy=entropy))


def stored_events(store: EventStore, page: int = 5000) -> Iterator[Event]:
    """Every stored event in id order, a page at a time."""
    after: str | None = None
    while True:
        result = store.query(EventQuery(after=after, limit=page))
        for raw in result.raws:
            yield decode_event(raw)
        if result.next is None:
            return
        after = result.next


class Defense:
    def __init__(
        self,
        settings: Settings,
        state: StateStore,
        clock: Clock,
        *,
        interval: float = 0.25,
        entropy: Entropy | None = None,
        give_way: Callable[[], None] | None = None,
    ) -> None:
        """``give_way``: called between slices of the fold (ingest's decoder pauses it)."""
        self.clock = clock
        self._give_way = give_way
        self.intel = IntelService(IntelStore(state), clock)
        self.mitigation = build_mitigation(settings, state, clock, entropy)
        self.decisions = self.mitigation.store
        self.interval = interval
        self.lock = threading.Lock()  # the book and the mitigator are used from worker threads
        self._pending: list[Event] = []
        self.max_backlog = settings.server.defense_backlog
        self._observed = 0  # events handed over (written on the event loop only)
        self._folded = 0  # of those, folded and decided (written in the step's worker thread only)
        # which touched indicators reconciling can change anything for: the policy acts on their
        # confidence, or a decision is in force for them (the mitigation service's own table). The
        # others (most of a busy stream: one probe, a few failed logins) would be built only to be
        # dropped; the sweep still reconciles every one.
        self._may_matter = PolicyFloors(self.mitigation.mitigator.policy.floor, self.mitigation.decided)
        self._wake = asyncio.Event()
        self._last_sweep = clock.monotonic()
        self._last_sync = clock.monotonic()

    def load(self, events: Iterable[Event]) -> int:
        with self.lock:
            count = self.intel.load(events)
            self.mitigation.reconcile(self.intel.take_changed())
        return count

    def observe(self, events: list[Event]) -> None:
        """Newly committed events (called on the event loop after each ingest)."""
        self._pending.extend(events)
        self._observed += len(events)
        self._wake.set()

    @property
    def behind(self) -> bool:
        """A quarter of ``server.defense_backlog`` waits: the loop goes straight on, and its fold
        stops giving way to ingest's decoder."""
        return self._observed - self._folded >= self.max_backlog // 4

    @property
    def overloaded(self) -> bool:
        """More events wait to be folded and decided than ``server.defense_backlog``: ingest should
        push back."""
        return self._observed - self._folded >= self.max_backlog

    def step(self) -> Changes:
        """Fold what arrived and reconcile what it touched (and everything, now and then)."""
        pending, self._pending = self._pending, []
        with self.lock:
            try:
                return self._fold_and_decide(pending)
            finally:  # counted once decided: a long reconcile is the loop being behind too
                self._folded += len(pending)

    def _fold_and_decide(self, pending: list[Event]) -> Changes:
        # behind, the fold runs flat out: pausing it would only bring the 503s nearer
        self.intel.fold(pending, between=None if self.behind else self._give_way)
        due = self.clock.monotonic() - self._last_sweep >= SWEEP_SECONDS
        if due:
            self._last_sweep = self.clock.monotonic()
        if self.clock.monotonic() - self._last_sync >= SYNC_SECONDS:
            self._last_sync = self.clock.monotonic()
            self.intel.sync()
        # the mitigator reads no evidence: the touched indicators are built without it (twenty
        # items built and sorted for each, measured a third of building one)
        touched = self.intel.indicators() if due else self.intel.take_changed(self._may_matter, evidence=False)
        if due:
            self.intel.take_changed()
        return self.mitigation.reconcile(touched)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=SYNC_SECONDS)
            self._wake.clear()
            try:
                changes = await asyncio.to_thread(self.step)
            except Exception:  # the loop must outlive one bad step; the sweep re-decides everything
                log.exception("defense step failed")
                continue
            if changes.new or changes.withdrawn:
                log.info(
                    "decisions: %d new, %d renewed, %d withdrawn",
                    len(changes.new),
                    len(changes.renewed),
                    len(changes.withdrawn),
                )
            if not self.behind:
                await asyncio.sleep(self.interval)  # gather the next step's events (fewer, larger steps)
            # else behind: straight on. Pausing with a backlog only lets it grow to the limit, where
            # ingest answers 503 and the sensors wait seconds while a core idles.
