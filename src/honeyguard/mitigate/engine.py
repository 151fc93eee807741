"""Mitigator: indicators -> Decisions (new, renewed, withdrawn), every one with its guardrail trace."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from honeyguard.clock import Clock
from honeyguard.mitigate.guardrails import HARD, SOFT, Guardrails, RangeShare
from honeyguard.mitigate.policy import Policy, PolicyVerdict
from honeyguard.model.decision import Action, Decision, GuardrailCheck
from honeyguard.model.ids import UuidV7Factory
from honeyguard.model.indicator import Indicator, indicator_id

RANGE_QUESTION_TTL = timedelta(days=1)


@dataclass
class Changes:
    new: list[Decision] = field(default_factory=list)
    renewed: list[Decision] = field(default_factory=list)
    withdrawn: list[Decision] = field(default_factory=list)


@dataclass
class Mitigator:
    policy: Policy
    guardrails: Guardrails
    clock: Clock
    ids: UuidV7Factory
    simulation: bool = False

    def decide(self, indicator: Indicator, verdict: PolicyVerdict | None = None) -> Decision:
        """What the policy wants for this indicator (``verdict``, when already asked), after every
        guardrail."""
        now = self.clock.now()
        if verdict is None:
            verdict = self.policy.decide(indicator)
        trace = [GuardrailCheck(check="policy", verdict="pass", figure=f"confidence {indicator.confidence}",
                                detail=f"{verdict.rule}: {verdict.action} {verdict.direction}")]
        action: Action = verdict.action
        if action != "none":
            checks = self.guardrails.run(indicator, now)
            trace.extend(checks)
            action = _downgrade(action, checks)
        return Decision(
            id=self.ids.new(now), indicator_id=indicator.id, type=indicator.type, value=indicator.value,
            action=action, direction=verdict.direction, created_at=now, expires_at=now + verdict.duration,
            origin="auto", reason=_reason(indicator), roles=list(indicator.roles),
            confidence=indicator.confidence, trace=trace, simulated=self.simulation,
            sightings=indicator.sightings, first_seen=indicator.first_seen, last_seen=indicator.last_seen,
            cves=list(indicator.cves),
        )

    def reconcile(self, indicators: Iterable[Indicator], active: dict[str, Decision]) -> Changes:
        """Compare what should be enforced with what is (``active`` by indicator id)."""
        now = self.clock.now()
        changes = Changes()
        seen: set[str] = set()
        self.guardrails.share.reset(d.value for d in active.values() if d.action == "drop")
        for indicator in indicators:
            seen.add(indicator.id)
            current = active.get(indicator.id)
            if current is not None and current.origin == "manual":
                continue  # a person's decision stands until it expires or they withdraw it
            verdict = self.policy.decide(indicator)
            if current is None and verdict.action == "none":
                continue  # nothing wanted, nothing enforced: no decision to build (most indicators)
            wanted = self.decide(indicator, verdict)
            self._apply(wanted, current, indicator, now, changes)
        for known, current in active.items():
            if known not in seen and current.expires_at <= now:
                changes.withdrawn.append(_withdraw(current, now))
        self._range_questions(changes, active, now)
        return changes

    def _range_questions(self, changes: Changes, active: dict[str, Decision], now: datetime) -> None:
        """A /24 (or /64) whose share of drops hit the cap becomes one range alert for a person to
        confirm or drop, instead of ever more single-address drops."""
        flagged = (d for d in changes.new
                   if any(c.check == "range-share" and c.verdict == "soft-fail" for c in d.trace))
        blocks = {block for d in flagged if (block := RangeShare.block_of(d.value))}
        for block in sorted(blocks):
            range_id = indicator_id("cidr", block)
            if range_id in active or any(d.indicator_id == range_id for d in changes.new):
                continue
            dropped = self.guardrails.share.counts.get(block, 0)
            changes.new.append(Decision(
                id=self.ids.new(now), indicator_id=range_id, type="cidr", value=block, action="alert",
                direction="ingress", created_at=now, expires_at=now + RANGE_QUESTION_TTL, origin="auto",
                reason=f"{dropped} addresses of {block} are dropped: treat it as a range?", roles=["scanner"],
                trace=[GuardrailCheck(check="range-share", verdict="soft-fail", figure=f"{dropped} dropped",
                                      detail="a range decision for a person to confirm")],
                simulated=self.simulation))

    def _apply(self, wanted: Decision, current: Decision | None, indicator: Indicator, now: datetime,
               changes: Changes) -> None:
        if current is not None and current.expires_at <= now:
            changes.withdrawn.append(_withdraw(current, now))
            current = None
        if wanted.action == "none" and not _refused_by_guardrails(wanted):
            if current is not None:  # the policy no longer asks for anything
                changes.withdrawn.append(_withdraw(current, now))
            return
        if current is not None and (current.action, current.direction) == (wanted.action, wanted.direction):
            if indicator.last_seen > current.created_at and wanted.expires_at > current.expires_at:
                changes.renewed.append(msgspec.structs.replace(
                    current, expires_at=wanted.expires_at, confidence=wanted.confidence, trace=wanted.trace))
            return
        if current is not None:
            changes.withdrawn.append(_withdraw(current, now))
        if wanted.action == "drop":
            assert self.guardrails.budget is not None
            self.guardrails.budget.record(now)
            self.guardrails.share.add(wanted.value)
        changes.new.append(wanted)


def _refused_by_guardrails(decision: Decision) -> bool:
    """The policy wanted an action and a hard guardrail said no: kept, so "why not?" has an answer."""
    return any(check.check != "policy" for check in decision.trace)


def _downgrade(action: Action, checks: list[GuardrailCheck]) -> Action:
    verdicts = {c.verdict for c in checks}
    if HARD in verdicts:
        return "none"
    if action == "drop" and SOFT in verdicts:
        return "alert"
    return action


def _withdraw(decision: Decision, now: datetime) -> Decision:
    return msgspec.structs.replace(decision, withdrawn_at=now)


def _reason(indicator: Indicator) -> str:
    roles = "/".join(indicator.roles) or "unknown"
    cves = f" ({', '.join(indicator.cves[:3])})" if indicator.cves else ""
    return f"{indicator.type} {roles}{cves}, confidence {indicator.confidence}, {indicator.state}"
