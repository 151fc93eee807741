"""The defense loop's step: only touched indicators that can change a decision are built and
reconciled, and the decisions come out as when every touched indicator was reconciled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.config import default_settings
from honeyguard.model import HttpRequest, SshLogin
from honeyguard.server import defense as defense_module
from honeyguard.server.defense import Defense
from honeyguard.store.state import StateStore
from tests.intel.test_indicator_book import ev

T0 = datetime(2026, 6, 1, tzinfo=UTC)
EXPLOITER = "45.142.120.7"
GUESSER = "45.142.120.8"


def _defense(tmp_path: Path, clock: FakeClock) -> Defense:
    settings = default_settings(str(tmp_path))
    defense = Defense(settings, StateStore(settings.state_url, clock=clock), clock, entropy=SeededEntropy(4))
    defense.load([])
    return defense


def _exploit(clock: FakeClock, src: str = EXPLOITER):  # type: ignore[no-untyped-def]
    body = HttpRequest(method="GET", target="/cgi-bin/x", version="HTTP/1.1", headers=[])
    return ev(body, at=clock.now(), src=src, cves=["CVE-2017-17215"])


def _failed_login(clock: FakeClock, src: str = GUESSER):  # type: ignore[no-untyped-def]
    return ev(SshLogin(username="root", method="password", password="x"), at=clock.now(), src=src)


def test_weak_indicators_are_not_decided_and_strong_ones_are(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    defense = _defense(tmp_path, clock)
    defense.observe([_exploit(clock), _failed_login(clock)])
    changes = defense.step()
    assert [(d.value, d.action) for d in changes.new] == [(EXPLOITER, "alert")]
    floor = defense.mitigation.mitigator.policy.floor("ip")
    weak = defense.intel.find(GUESSER)[0]
    assert weak.confidence < floor  # skipped: the policy could not act on it
    assert defense.mitigation.mitigator.policy.decide(weak).action == "none"


def _probe(clock: FakeClock):  # type: ignore[no-untyped-def]
    return ev(HttpRequest(method="GET", target="/", version="HTTP/1.1", headers=[]), at=clock.now(), src=GUESSER)


def test_a_decided_indicator_is_reconciled_even_below_the_policy_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alert's indicator decays under the floor while the alert (3 days) still runs: touching it
    again withdraws the alert, as reconciling every touched indicator always did."""
    monkeypatch.setattr(defense_module, "SWEEP_SECONDS", 30 * 86400.0)  # no sweep: the touched path alone
    clock = FakeClock(T0)
    defense = _defense(tmp_path, clock)
    defense.observe([_failed_login(clock) for _ in range(7)])
    (alert,) = defense.step().new
    assert alert.value == GUESSER and alert.action == "alert"
    clock.advance(timedelta(days=2).total_seconds())
    defense.observe([_probe(clock)])
    changes = defense.step()
    (now,) = defense.intel.find(GUESSER)
    assert now.confidence < defense.mitigation.mitigator.policy.floor("ip")
    assert [d.id for d in changes.withdrawn] == [alert.id]
    assert defense.decisions.active(clock.now()) == {}


def test_decisions_made_before_a_restart_count_as_decided(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    first = _defense(tmp_path, clock)
    first.observe([_failed_login(clock) for _ in range(7)])
    (alert,) = first.step().new
    clock.advance(timedelta(days=2).total_seconds())
    # a new collector whose book saw only the probe (the store rebuilds it in the real one)
    second = _defense(tmp_path, clock)  # its first sweep is a minute away
    second.observe([_probe(clock)])
    assert [d.id for d in second.step().withdrawn] == [alert.id]


def test_the_backlog_counts_events_until_their_decisions_are_made(tmp_path: Path) -> None:
    """Ingest pushes back while a step still reconciles what it folded (on a live stream deciding
    takes longer than folding): the events leave the backlog only once decided."""
    clock = FakeClock(T0)
    defense = _defense(tmp_path, clock)
    defense.max_backlog = 2
    seen_while_deciding: list[bool] = []
    reconcile = defense.mitigation.reconcile

    def watched(indicators):  # type: ignore[no-untyped-def]
        seen_while_deciding.append(defense.overloaded)
        return reconcile(indicators)

    defense.mitigation.reconcile = watched  # type: ignore[method-assign]
    defense.observe([_exploit(clock), _failed_login(clock)])
    assert defense.overloaded
    defense.step()
    assert seen_while_deciding == [True] and not defense.overloaded


@pytest.mark.parametrize(("events", "gives_way"), [(300, True), (2_000, False)])
def test_the_fold_gives_way_to_decoding_unless_the_loop_is_behind(
    tmp_path: Path, events: int, gives_way: bool
) -> None:
    clock = FakeClock(T0)
    settings = default_settings(str(tmp_path))
    settings.server.defense_backlog = 4_000  # behind from a quarter of it: 1,000 events
    asked: list[int] = []
    defense = Defense(settings, StateStore(settings.state_url, clock=clock), clock, entropy=SeededEntropy(4),
                      give_way=lambda: asked.append(1))
    defense.load([])
    defense.observe([_failed_login(clock, src=f"198.51.100.{i % 200}") for i in range(events)])
    assert defense.behind is not gives_way
    defense.step()
    assert (len(asked) > 0) is (gives_way and defense.intel.book._native is not None)
    assert not defense.behind
