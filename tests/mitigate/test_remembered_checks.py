"""Guardrail checks remembered by their figures: one Guardrails running for indicators whose
figures differ gives each the check of its own figures, in any order; and a renewal carries the
checks run for it, while only a new decision takes an id."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.config import MitigationSettings
from honeyguard.mitigate import guardrails as guardrails_module
from tests.mitigate.test_guardrails import PUBLIC, T0, indicator, mitigator

STATES = ["verified", "candidate", "expired", "allowlisted"]
HOSTS = {PUBLIC: 400, "45.142.120.9": 3}


def _figures(check: object) -> tuple[object, ...]:
    return tuple(getattr(check, name) for name in ("check", "verdict", "figure", "limit", "detail"))


@settings(max_examples=60, deadline=None)
@given(
    asks=st.lists(
        st.tuples(
            st.sampled_from([PUBLIC, "45.142.120.9", "45.142.120.10"]), st.integers(1, 4), st.sampled_from(STATES)
        ),
        min_size=1,
        max_size=12,
    )
)
def test_each_decision_gets_the_checks_of_its_own_figures(asks: list[tuple[str, int, str]]) -> None:
    shared = mitigator(MitigationSettings(), hosts=HOSTS)
    for value, sensors, state in asks:
        fresh = mitigator(MitigationSettings(), hosts=HOSTS)  # nothing remembered yet
        wanted = indicator(value, sensors=sensors, state=state)
        got, expected = shared.decide(wanted), fresh.decide(wanted)
        assert [_figures(c) for c in got.trace] == [_figures(c) for c in expected.trace]
        assert got.action == expected.action


def test_remembered_checks_stay_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(guardrails_module, "MAX_REMEMBERED_CHECKS", 3)
    m = mitigator(MitigationSettings(), hosts={f"45.142.120.{i}": i for i in range(20)})
    for i in range(20):
        m.decide(indicator(f"45.142.120.{i}"))
        assert len(m.guardrails._checks) <= 3


def test_a_renewal_carries_its_new_trace_and_takes_no_id() -> None:
    m = mitigator()
    first = m.reconcile([indicator()], {})
    (decision,) = first.new
    m.clock.advance(3 * 3600)  # type: ignore[attr-defined]  # (past the renewal step: 1% of 7 days)
    drawn: list[str] = []
    draw = m.ids.new
    m.ids.new = lambda at: drawn.append(draw(at)) or drawn[-1]  # type: ignore[method-assign]
    later = indicator(confidence=95, last_seen=T0 + timedelta(hours=3))
    second = m.reconcile([later], {decision.indicator_id: decision})
    assert second.new == [] and second.withdrawn == []
    (renewed,) = second.renewed
    assert renewed.id == decision.id and renewed.confidence == 95
    assert renewed.expires_at == T0 + timedelta(hours=3) + timedelta(days=7)
    assert [c.check for c in renewed.trace] == [c.check for c in decision.trace]
    assert renewed.trace[0].figure == "confidence 95"
    assert drawn == []  # a renewal keeps its id: none drawn for it
