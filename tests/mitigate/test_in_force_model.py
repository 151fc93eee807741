"""The service keeps the decisions in force change by change; a reference that reads every one
from the store at each step and reconciles as the mitigator always did (full range-share reset,
full expiry scan) must make exactly the same decisions, renewals, withdrawals and expiries."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.config import MitigationSettings
from honeyguard.intel.service import IntelService
from honeyguard.mitigate import Guardrails, Mitigator, load_policy
from honeyguard.mitigate.engine import Changes
from honeyguard.mitigate.guardrails import RangeShare
from honeyguard.mitigate.lists import Allowlist, DomainGuard, NeverBlock
from honeyguard.mitigate.service import MitigationService
from honeyguard.model import HttpRequest, SshLogin, UuidV7Factory
from honeyguard.model.decision import Decision
from honeyguard.model.indicator import Indicator
from honeyguard.store.decisions import DecisionStore
from honeyguard.store.intel import IntelStore
from honeyguard.store.state import StateStore
from tests.intel.test_indicator_book import ev

T0 = datetime(2026, 6, 1, tzinfo=UTC)
# three /24s, a few addresses each: with a cap of 2 drops a /24 the range share and its questions act
SOURCES = [f"45.142.{block}.{host}" for block in (120, 121, 122) for host in (7, 8, 9, 10)]


@dataclass
class ReferenceService:
    """The loop as it was: every decision not withdrawn read and sorted out at each step."""

    mitigator: Mitigator
    store: DecisionStore

    def reconcile(self, indicators: list[Indicator]) -> Changes:
        now = self.mitigator.clock.now()
        active: dict[str, Decision] = {}
        expired: list[Decision] = []
        for decision in self.store.unwithdrawn():
            if decision.expires_at > now:
                active[decision.indicator_id] = decision
            else:
                expired.append(decision)
        changes = self.mitigator.reconcile(indicators, active)
        already = {w.id for w in changes.withdrawn}
        changes.withdrawn.extend(msgspec.structs.replace(d, withdrawn_at=now) for d in expired if d.id not in already)
        self.store.save([*changes.new, *changes.renewed, *changes.withdrawn])
        return changes


class World:
    """One collector's intel and mitigation over its own store; ``reference`` picks the old loop."""

    def __init__(self, path: Path, clock: FakeClock, *, reference: bool) -> None:
        self.path, self.clock, self.reference = path, clock, reference
        self.state = StateStore(f"sqlite:///{path / 'state.sqlite'}", clock=clock)
        self.intel = IntelService(IntelStore(self.state), clock)
        self.store = DecisionStore(self.state, clock=clock, entropy=SeededEntropy(2))
        self.ids = UuidV7Factory(SeededEntropy(3))
        self.restart()

    def restart(self) -> None:
        """A new collector on the same store (its decisions read back), the same id sequence."""
        cfg = MitigationSettings(max_share_of_24=0.01, drops_per_hour=6)
        guardrails = Guardrails(
            never_block=NeverBlock.builtin(), domains=DomainGuard.load(None, 1), allowlist=Allowlist(()), settings=cfg
        )
        mitigator = Mitigator(policy=load_policy(), guardrails=guardrails, clock=self.clock, ids=self.ids)
        self.service: MitigationService | ReferenceService = (
            ReferenceService(mitigator, self.store) if self.reference else MitigationService(mitigator, self.store)
        )

    def step(self, events: list[object], *, sweep: bool = False) -> Changes:
        self.intel.fold(events)  # type: ignore[arg-type]
        touched = self.intel.indicators() if sweep else self.intel.take_changed()
        if sweep:
            self.intel.take_changed()
        return self.service.reconcile(list(touched))

    def withdraw_from_cli(self, value: str) -> None:
        """Another process (the CLI) withdraws a decision in force, through its own store object."""
        other = DecisionStore(StateStore(f"sqlite:///{self.path / 'state.sqlite'}", clock=self.clock))
        found = [d for d in other.active(self.clock.now()).values() if d.value == value]
        other.save(msgspec.structs.replace(d, withdrawn_at=self.clock.now()) for d in found)


def _event(rng: random.Random, clock: FakeClock) -> object:
    src = rng.choice(SOURCES)
    sensor = rng.choice(["s1", "s2", "s3"])
    if rng.random() < 0.6:
        body = HttpRequest(method="GET", target="/cgi-bin/x", version="HTTP/1.1", headers=[])
        return ev(body, at=clock.now(), src=src, sensor=sensor, cves=["CVE-2017-17215"])
    return ev(SshLogin(username="root", method="password", password="x"), at=clock.now(), src=src, sensor=sensor)


def _same(got: Changes, want: Changes, step: int) -> None:
    for kind in ("new", "renewed", "withdrawn"):
        assert getattr(got, kind) == getattr(want, kind), f"step {step}: {kind} differ"


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_kept_book_decides_as_reading_the_store_each_step(tmp_path: Path, seed: int) -> None:
    clock = FakeClock(T0)
    (tmp_path / "kept").mkdir()
    (tmp_path / "ref").mkdir()
    kept, ref = World(tmp_path / "kept", clock, reference=False), World(tmp_path / "ref", clock, reference=True)
    rng = random.Random(seed)
    counted = {"new": 0, "renewed": 0, "withdrawn": 0, "expired": 0, "range questions": 0}
    for step in range(60):
        events = [_event(rng, clock) for _ in range(rng.randrange(0, 6))]
        roll = rng.random()
        if step == 25:  # allowlisted mid-way: its drop or alert gives way
            for world in (kept, ref):
                world.intel.allow("ip", SOURCES[0], "our pentest vendor", None)
        if step == 35:
            for world in (kept, ref):
                world.withdraw_from_cli(SOURCES[1])
        if step == 45:
            for world in (kept, ref):
                world.restart()
        sweep = roll < 0.1
        in_force = {d.id: d for d in kept.store.unwithdrawn()}
        got, want = kept.step(events, sweep=sweep), ref.step(events, sweep=sweep)
        _same(got, want, step)
        for kind in ("new", "renewed", "withdrawn"):
            counted[kind] += len(getattr(got, kind))
        counted["expired"] += sum(d.id in in_force and d.expires_at <= clock.now() for d in got.withdrawn)
        counted["range questions"] += sum(d.type == "cidr" for d in got.new)
        now = clock.now()
        assert kept.store.active(now) == ref.store.active(now)
        assert kept.store.unwithdrawn() == ref.store.unwithdrawn()
        # expiries: hours most steps, now and then days (decisions run out while others are renewed)
        clock.advance(rng.choice([60.0, 3600.0, 6 * 3600.0, 2 * 86400.0]))
    assert all(counted.values()), counted  # the stream made, renewed, expired and withdrew decisions


def test_the_range_share_counts_the_drops_in_force(tmp_path: Path) -> None:
    """After every step the kept counts are those rebuilt from the decisions in force."""
    clock = FakeClock(T0)
    world = World(tmp_path, clock, reference=False)
    rng = random.Random(9)
    assert isinstance(world.service, MitigationService)
    for _ in range(40):
        world.step([_event(rng, clock) for _ in range(4)])
        rebuilt = RangeShare()
        rebuilt.reset(d.value for d in world.store.active(clock.now()).values() if d.action == "drop")
        assert world.service.mitigator.guardrails.share.counts == rebuilt.counts
        clock.advance(rng.choice([60.0, 86400.0]))
    assert world.store.active(clock.now())


def test_a_failed_save_reads_the_store_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step whose save fails leaves the store as it was (the book may be half moved): the next
    step decides from the store again, as the reference always does."""
    clock = FakeClock(T0)
    (tmp_path / "kept").mkdir()
    (tmp_path / "ref").mkdir()
    kept, ref = World(tmp_path / "kept", clock, reference=False), World(tmp_path / "ref", clock, reference=True)
    rng = random.Random(5)

    def broken(*args: object, **kwargs: object) -> int:
        raise OSError("disk full")

    for step in range(16):
        events = [_event(rng, clock) for _ in range(4)]
        if step in (6, 7):
            for world in (kept, ref):
                monkeypatch.setattr(world.store, "save_numbered", broken)
                with pytest.raises(OSError):
                    world.step(events)
            monkeypatch.undo()
        else:
            _same(kept.step(events), ref.step(events), step)
            assert kept.store.unwithdrawn() == ref.store.unwithdrawn()
        clock.advance(rng.choice([60.0, 86400.0]))
