"""Decisions pass every guardrail or are downgraded, and the trace says which check decided."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.config import AllowlistEntry, MitigationSettings
from honeyguard.mitigate import Guardrails, Mitigator, load_policy
from honeyguard.mitigate.engine import RENEW_FRACTION
from honeyguard.mitigate.guardrails import StaticBlastRadius
from honeyguard.mitigate.lists import Allowlist, DomainGuard, NeverBlock
from honeyguard.model.decision import Decision
from honeyguard.model.ids import UuidV7Factory
from honeyguard.model.indicator import Indicator

T0 = datetime(2026, 6, 1, tzinfo=UTC)
PUBLIC = "45.142.120.7"  # a globally routable value: no traffic is ever sent to it


def indicator(value: str = PUBLIC, *, type_: str = "ip", roles: tuple[str, ...] = ("exploiter",),
              confidence: int = 90, sensors: int = 3, state: str = "verified",
              last_seen: datetime = T0) -> Indicator:
    return Indicator(id=f"indicator--{type_}-{value}", type=type_, value=value, roles=list(roles),  # type: ignore[arg-type]
                     first_seen=T0 - timedelta(days=1), last_seen=last_seen, sightings=10,
                     sensors=[f"s{i}" for i in range(sensors)], sources=[f"sensor:s{i}" for i in range(sensors)],
                     confidence=confidence, state=state)  # type: ignore[arg-type]


def mitigator(settings_: MitigationSettings | None = None, *, hosts: dict[str, int] | None = None,
              popular: set[str] | None = None, clock: FakeClock | None = None) -> Mitigator:
    cfg = settings_ or MitigationSettings()
    guard = DomainGuard.load(None, 10)
    guard.popular = popular or {"example-popular.com"}
    guardrails = Guardrails(never_block=NeverBlock.builtin(org_ranges=cfg.org_ranges, sensors=cfg.sensor_addresses),
                            domains=guard, allowlist=Allowlist(tuple(cfg.allowlist)), settings=cfg,
                            blast_radius=StaticBlastRadius(hosts or {}))
    return Mitigator(policy=load_policy(), guardrails=guardrails, clock=clock or FakeClock(T0),
                     ids=UuidV7Factory(SeededEntropy(5)), simulation=cfg.simulation)


def verdicts(decision: Decision) -> dict[str, str]:
    return {check.check: check.verdict for check in decision.trace}


def test_a_corroborated_exploiter_is_dropped_ingress_with_expiry_and_full_trace() -> None:
    decision = mitigator().decide(indicator())
    assert (decision.action, decision.direction) == ("drop", "ingress")
    assert decision.expires_at == T0 + timedelta(days=7)
    assert set(verdicts(decision)) >= {"policy", "never-block", "allowlist", "corroboration", "blast-radius",
                                       "hourly-budget", "range-share"}
    assert all(v in ("pass", "skip") for v in verdicts(decision).values())


def test_c2_hosts_are_blocked_egress() -> None:
    decision = mitigator().decide(indicator(roles=("c2",), confidence=70))
    assert (decision.action, decision.direction) == ("drop", "egress")


def test_one_sensor_is_not_enough_for_a_drop() -> None:
    decision = mitigator().decide(indicator(sensors=1))
    assert decision.action == "alert"
    assert verdicts(decision)["corroboration"] == "soft-fail"


def test_a_large_blast_radius_turns_a_drop_into_an_alert() -> None:
    decision = mitigator(hosts={PUBLIC: 400}).decide(indicator(roles=("c2",)))
    assert decision.action == "alert"
    check = next(c for c in decision.trace if c.check == "blast-radius")
    assert check.figure == "400 internal hosts" and check.verdict == "soft-fail"


def test_the_hourly_budget_caps_new_drops() -> None:
    clock = FakeClock(T0)
    m = mitigator(MitigationSettings(drops_per_hour=3), clock=clock)
    inds = [indicator(f"45.142.{i}.7") for i in range(5)]
    changes = m.reconcile(inds, {})
    assert [d.action for d in changes.new] == ["drop"] * 3 + ["alert"] * 2
    clock.advance(3601)
    later = m.reconcile([indicator("45.142.9.7")], {})
    assert later.new[0].action == "drop"


def test_a_crowded_24_becomes_a_range_question() -> None:
    m = mitigator(MitigationSettings(max_share_of_24=0.05))  # 12 addresses
    active = {f"i{i}": m.decide(indicator(f"45.142.120.{i}")) for i in range(12)}
    changes = m.reconcile([indicator("45.142.120.200")], active)
    decision = next(d for d in changes.new if d.value == "45.142.120.200")
    assert decision.action == "alert"
    check = next(c for c in decision.trace if c.check == "range-share")
    assert "45.142.120.0/24" in check.detail
    (question,) = [d for d in changes.new if d.type == "cidr"]
    assert (question.value, question.action) == ("45.142.120.0/24", "alert")
    assert "12 addresses" in question.reason


def test_drops_made_in_one_pass_count_towards_the_share() -> None:
    m = mitigator(MitigationSettings(max_share_of_24=0.05))  # 12 addresses
    changes = m.reconcile([indicator(f"45.142.120.{i}") for i in range(20)], {})
    actions = [d.action for d in changes.new if d.type == "ip"]
    assert actions.count("drop") == 12 and actions.count("alert") == 8
    assert [d.value for d in changes.new if d.type == "cidr"] == ["45.142.120.0/24"]


def test_popular_and_shared_domains_are_never_blocked_but_names_below_shared_zones_are() -> None:
    m = mitigator(popular={"example-popular.com"})
    popular = m.decide(indicator("cdn.example-popular.com", type_="domain", roles=("c2",)))
    zone = m.decide(indicator("duckdns.org", type_="domain", roles=("c2",)))
    below = m.decide(indicator("evil-bot.duckdns.org", type_="domain", roles=("c2",)))
    assert popular.action == "none" and zone.action == "none"
    assert below.action == "drop"
    assert "exact name only" in next(c for c in below.trace if c.check == "domain-popularity").detail


def test_allowlist_entries_expire() -> None:
    entry = AllowlistEntry(value="45.142.120.0/24", reason="partner scanner", expires="2026-06-02")
    clock = FakeClock(T0)
    m = mitigator(MitigationSettings(allowlist=[entry]), clock=clock)
    assert m.decide(indicator()).action == "none"
    clock.advance(2 * 86400)
    assert m.decide(indicator()).action == "drop"


def test_renewed_evidence_extends_and_expiry_withdraws() -> None:
    clock = FakeClock(T0)
    m = mitigator(clock=clock)
    first = m.reconcile([indicator()], {}).new[0]
    clock.advance(86400)
    renewed = m.reconcile([indicator(last_seen=clock.now())], {first.indicator_id: first}).renewed[0]
    assert renewed.id == first.id and renewed.expires_at == first.expires_at + timedelta(days=1)
    clock.advance(30 * 86400)
    gone = m.reconcile([], {first.indicator_id: renewed}).withdrawn
    assert [d.id for d in gone] == [first.id] and gone[0].withdrawn_at == clock.now()


def test_expired_indicators_withdraw_their_decisions() -> None:
    m = mitigator()
    first = m.reconcile([indicator()], {}).new[0]
    changes = m.reconcile([indicator(state="expired", confidence=5)], {first.indicator_id: first})
    assert [d.id for d in changes.withdrawn] == [first.id] and not changes.new


def test_simulation_marks_decisions() -> None:
    assert mitigator(MitigationSettings(simulation=True)).decide(indicator()).simulated


def _never_block_addresses() -> st.SearchStrategy[str]:
    ranges = ["10.0.0.0/8", "127.0.0.0/8", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
              "224.0.0.0/4", "172.16.0.0/12", "8.8.8.8/32", "1.1.1.1/32", "203.0.113.0/24"]
    return st.sampled_from(ranges).flatmap(lambda r: st.integers(
        0, ipaddress.ip_network(r).num_addresses - 1).map(
        lambda i, r=r: str(ipaddress.ip_network(r).network_address + i)))


@settings(max_examples=300, deadline=None)
@given(value=_never_block_addresses(), confidence=st.integers(0, 100), sensors=st.integers(0, 20),
       roles=st.sets(st.sampled_from(["c2", "exploiter", "scanner", "bruteforcer", "malware-host"]), min_size=1))
def test_never_block_values_are_never_dropped_whatever_the_evidence(value: str, confidence: int, sensors: int,
                                                                    roles: set[str]) -> None:
    decision = mitigator().decide(indicator(value, roles=tuple(sorted(roles)), confidence=confidence,
                                            sensors=sensors))
    assert decision.action != "drop"


@settings(max_examples=100, deadline=None)
@given(confidence=st.integers(0, 100), sensors=st.integers(0, 20))
def test_allowlisted_indicators_are_never_dropped(confidence: int, sensors: int) -> None:
    decision = mitigator().decide(indicator(state="allowlisted", confidence=confidence, sensors=sensors))
    assert decision.action == "none"


@settings(max_examples=100, deadline=None)
@given(hosts=st.integers(26, 100_000), confidence=st.integers(60, 100))
def test_a_popular_address_with_a_large_blast_radius_is_alerted_not_dropped(hosts: int, confidence: int) -> None:
    decision = mitigator(hosts={PUBLIC: hosts}).decide(indicator(roles=("c2",), confidence=confidence))
    assert decision.action == "alert"


def test_org_ranges_and_sensors_are_never_blocked(tmp_path: Path) -> None:
    m = mitigator(MitigationSettings(org_ranges=["45.142.0.0/16"], sensor_addresses=["91.200.1.1"]))
    assert m.decide(indicator()).action == "none"
    assert m.decide(indicator("91.200.1.1")).action == "none"


def test_evidence_renews_a_decision_once_its_expiry_moves_by_the_renewal_step() -> None:
    """A source seen again and again is not rewritten (and sent to every bouncer) each time: the
    expiry moves once it would move by RENEW_FRACTION of the duration."""
    clock = FakeClock(T0)
    m = mitigator(clock=clock)
    first = m.reconcile([indicator()], {}).new[0]
    step = (first.expires_at - first.created_at) * RENEW_FRACTION
    clock.advance(step.total_seconds() * 0.9)
    assert m.reconcile([indicator(last_seen=clock.now())], {first.indicator_id: first}).renewed == []
    clock.advance(step.total_seconds() * 0.2)
    (renewed,) = m.reconcile([indicator(last_seen=clock.now())], {first.indicator_id: first}).renewed
    assert renewed.expires_at == clock.now() + (first.expires_at - first.created_at)
