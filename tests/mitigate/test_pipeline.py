"""Events -> indicators -> decisions -> the store the bouncer stream reads, with a moving clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.config import MitigationSettings
from honeyguard.intel.service import IntelService
from honeyguard.mitigate import Guardrails, Mitigator, load_policy
from honeyguard.mitigate.engine import RENEW_FRACTION
from honeyguard.mitigate.lists import Allowlist, DomainGuard, NeverBlock
from honeyguard.mitigate.service import MitigationService
from honeyguard.model import HttpRequest, Ioc, UuidV7Factory
from honeyguard.store.decisions import DecisionStore
from honeyguard.store.intel import IntelStore
from honeyguard.store.state import StateStore
from tests.intel.test_indicator_book import ev

T0 = datetime(2026, 6, 1, tzinfo=UTC)
ATTACKER = "45.142.120.7"


def _services(tmp_path: Path, clock: FakeClock) -> tuple[IntelService, MitigationService, DecisionStore]:
    state = StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}", clock=clock)
    decisions = DecisionStore(state, clock=clock, entropy=SeededEntropy(2))
    cfg = MitigationSettings()
    guardrails = Guardrails(
        never_block=NeverBlock.builtin(), domains=DomainGuard.load(None, 1), allowlist=Allowlist(()), settings=cfg
    )
    mitigator = Mitigator(policy=load_policy(), guardrails=guardrails, clock=clock, ids=UuidV7Factory(SeededEntropy(3)))
    return IntelService(IntelStore(state), clock), MitigationService(mitigator, decisions), decisions


def _exploit(sensor: str, location: str, clock: FakeClock):  # type: ignore[no-untyped-def]
    body = HttpRequest(method="GET", target="/cgi-bin/x", version="HTTP/1.1", headers=[])
    return ev(
        body,
        at=clock.now(),
        sensor=sensor,
        location=location,
        src=ATTACKER,
        cves=["CVE-2017-17215"],
        iocs=[Ioc(type="url", value="http://91.92.240.10/bins/mips", role="download")],
    )


def test_corroborated_exploits_become_a_drop_and_expiry_withdraws_it(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    intel, mitigation, store = _services(tmp_path, clock)
    intel.fold([_exploit("s1", "eu", clock)])
    first = mitigation.reconcile(intel.take_changed())
    assert {(d.value, d.action) for d in first.new} >= {(ATTACKER, "alert")}  # one sensor: alert only
    intel.fold([_exploit("s2", "us", clock)])
    second = mitigation.reconcile(intel.take_changed())
    dropped = {d.value: d for d in second.new if d.action == "drop"}
    assert set(dropped) == {ATTACKER, "91.92.240.10", "http://91.92.240.10/bins/mips"}
    assert dropped[ATTACKER].direction == "ingress" and dropped["91.92.240.10"].direction == "egress"
    assert {d.value for d in second.withdrawn} >= {ATTACKER}  # the alert gave way to the drop
    rows, top = store.changes_since(0)
    assert top == store.latest_seq() and len(rows) == len({r.decision.id for r in rows})
    clock.advance(60 * 86400)
    later = mitigation.reconcile(intel.take_changed())
    assert {d.value for d in later.withdrawn} >= {ATTACKER, "91.92.240.10"}
    assert store.active(clock.now()) == {}


def test_a_decision_withdrawn_by_another_process_is_not_renewed(tmp_path: Path) -> None:
    """The service keeps the decisions in memory between steps; the CLI's changes (its own store
    object, as another process) are read again at the next step."""
    clock = FakeClock(T0)
    intel, mitigation, _ = _services(tmp_path, clock)
    intel.fold([_exploit("s1", "eu", clock), _exploit("s1", "eu", clock)])  # capped: more exploits keep it
    alert = next(d for d in mitigation.reconcile(intel.take_changed()).new if d.value == ATTACKER)
    other = DecisionStore(StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}", clock=clock), clock=clock)
    other.save([msgspec.structs.replace(alert, withdrawn_at=clock.now())])
    clock.advance(60)
    intel.fold([_exploit("s1", "eu", clock)])
    changes = mitigation.reconcile(intel.take_changed())
    assert alert.id not in {d.id for d in changes.renewed}
    assert [d.action for d in changes.new if d.value == ATTACKER] == ["alert"]
    clock.advance(2 * RENEW_FRACTION * (alert.expires_at - alert.created_at).total_seconds())  # (renewals step)
    intel.fold([_exploit("s1", "eu", clock)])
    (renewed,) = [d for d in mitigation.reconcile(intel.take_changed()).renewed if d.value == ATTACKER]
    assert other.active(clock.now())[renewed.indicator_id] == renewed  # its own saves keep the copy current
    clock.advance(30 * 86400)
    assert renewed.id in {d.id for d in mitigation.reconcile([]).withdrawn}
    assert mitigation.reconcile([]).withdrawn == []  # withdrawn once


def test_the_allowlist_withdraws_a_drop(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    intel, mitigation, store = _services(tmp_path, clock)
    intel.fold([_exploit("s1", "eu", clock), _exploit("s2", "us", clock)])
    mitigation.reconcile(intel.take_changed())
    assert any(d.value == ATTACKER and d.action == "drop" for d in store.active(clock.now()).values())
    intel.allow("ip", ATTACKER, "our pentest vendor", None)
    changes = mitigation.reconcile(intel.take_changed())
    assert [d.value for d in changes.withdrawn] == [ATTACKER]
    (kept,) = [d for d in store.active(clock.now()).values() if d.value == ATTACKER]
    assert kept.action == "none"  # kept so that "why is it not blocked?" has an answer
    assert next(c for c in kept.trace if c.check == "indicator-state").verdict == "fail"
    trace = intel.explain(ATTACKER)[0]
    assert trace.indicator.state == "allowlisted"


def test_imports_are_kept_and_reloaded(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    intel, _, _ = _services(tmp_path, clock)
    feed = tmp_path / "feed.csv"
    feed.write_text("value,type,role,confidence\nbad-c2.example,domain,c2,90\n")
    result = intel.import_file(feed)
    assert not result.errors
    again, _, _ = _services(tmp_path, clock)
    again.load([])
    (found,) = again.find("bad-c2.example")
    assert found.confidence == 90 and found.sources == ["feed:feed.csv"]
