"""Mitigator: indicators -> Decisions (new, renewed, withdrawn), every one with its guardrail trace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
#: A decision in force is renewed when fresh evidence would move its expiry by at least this share
#: of its duration: a source seen every second would otherwise rewrite its decision every second,
#: and every bouncer would be sent it again at each pull (a ban of 4 hours moves by 2.4 minutes
#: or more; it ends at most that much before "duration after the last sighting").
RENEW_FRACTION = 0.01


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
        action, trace = self._checked(indicator, verdict, now)
        return self._decision(indicator, verdict, action, trace, now)

    def _checked(
        self, indicator: Indicator, verdict: PolicyVerdict, now: datetime
    ) -> tuple[Action, list[GuardrailCheck]]:
        """The action left after every guardrail, and the trace that says why."""
        trace = [
            GuardrailCheck(
                check="policy",
                verdict="pass",
                figure=f"confidence {indicator.confidence}",
                detail=f"{verdict.rule}: {verdict.action} {verdict.direction}",
            )
        ]
        action: Action = verdict.action
        if action != "none":
            checks = self.guardrails.run(indicator, now)
            trace.extend(checks)
            action = _downgrade(action, checks)
        return action, trace

    def _decision(
        self, indicator: Indicator, verdict: PolicyVerdict, action: Action, trace: list[GuardrailCheck], now: datetime
    ) -> Decision:
        return Decision(
            id=self.ids.new(now),
            indicator_id=indicator.id,
            type=indicator.type,
            value=indicator.value,
            action=action,
            direction=verdict.direction,
            created_at=now,
            expires_at=now + verdict.duration,
            origin="auto",
            reason=_reason(indicator),
            roles=list(indicator.roles),
            confidence=indicator.confidence,
            trace=trace,
            simulated=self.simulation,
            sightings=indicator.sightings,
            first_seen=indicator.first_seen,
            last_seen=indicator.last_seen,
            cves=list(indicator.cves),
        )

    def reconcile(
        self,
        indicators: Iterable[Indicator],
        active: Mapping[str, Decision],
        *,
        now: datetime | None = None,
        kept: bool = False,
    ) -> Changes:
        """Compare what should be enforced with what is (``active`` by indicator id).

        ``kept``: every decision of ``active`` is in force at ``now`` and the range share already
        counts their drops (the service keeps both change by change): neither is scanned again,
        so a step costs what it reconciles, not what is in force."""
        now = self.clock.now() if now is None else now
        changes = Changes()
        seen: set[str] = set()
        if not kept:
            self.guardrails.share.reset(d.value for d in active.values() if d.action == "drop")
        for indicator in indicators:
            seen.add(indicator.id)
            current = active.get(indicator.id)
            if current is not None and current.origin == "manual":
                continue  # a person's decision stands until it expires or they withdraw it
            verdict = self.policy.decide(indicator)
            if current is None and verdict.action == "none":
                continue  # nothing wanted, nothing enforced: no decision to build (most indicators)
            at = self.clock.now()  # as decide() reads it
            action, trace = self._checked(indicator, verdict, at)
            self._apply(_Wanted(indicator, verdict, action, trace, at), current, now, changes)
        if not kept:
            for known, current in active.items():
                if known not in seen and current.expires_at <= now:
                    changes.withdrawn.append(_withdraw(current, now))
        self._range_questions(changes, active, now)
        return changes

    def _range_questions(self, changes: Changes, active: Mapping[str, Decision], now: datetime) -> None:
        """A /24 (or /64) whose share of drops hit the cap becomes one range alert for a person to
        confirm or drop, instead of ever more single-address drops."""
        flagged = (
            d for d in changes.new if any(c.check == "range-share" and c.verdict == "soft-fail" for c in d.trace)
        )
        blocks = {block for d in flagged if (block := RangeShare.block_of(d.value))}
        # asked once, not per block: a big step flags hundreds of blocks among thousands of new ones
        decided = {d.indicator_id for d in changes.new} if blocks else set()
        for block in sorted(blocks):
            range_id = indicator_id("cidr", block)
            if range_id in active or range_id in decided:
                continue
            dropped = self.guardrails.share.counts.get(block, 0)
            changes.new.append(
                Decision(
                    id=self.ids.new(now),
                    indicator_id=range_id,
                    type="cidr",
                    value=block,
                    action="alert",
                    direction="ingress",
                    created_at=now,
                    expires_at=now + RANGE_QUESTION_TTL,
                    origin="auto",
                    reason=f"{dropped} addresses of {block} are dropped: treat it as a range?",
                    roles=["scanner"],
                    trace=[
                        GuardrailCheck(
                            check="range-share",
                            verdict="soft-fail",
                            figure=f"{dropped} dropped",
                            detail="a range decision for a person to confirm",
                        )
                    ],
                    simulated=self.simulation,
                )
            )

    def _apply(self, wanted: _Wanted, current: Decision | None, now: datetime, changes: Changes) -> None:
        """The change (if any) from ``current`` to what is wanted. The Decision itself (an id, a
        reason, copies of the indicator's lists) is built only when it is new: most reconciled
        indicators renew or keep the decision in force."""
        if current is not None and current.expires_at <= now:
            changes.withdrawn.append(_withdraw(current, now))
            current = None
        if wanted.action == "none" and not _refused_by_guardrails(wanted.trace):
            if current is not None:  # the policy no longer asks for anything
                changes.withdrawn.append(_withdraw(current, now))
            return
        direction = wanted.verdict.direction
        if current is not None and (current.action, current.direction) == (wanted.action, direction):
            expires_at = wanted.at + wanted.verdict.duration
            step = wanted.verdict.duration * RENEW_FRACTION
            if wanted.indicator.last_seen > current.created_at and expires_at > current.expires_at + step:
                changes.renewed.append(
                    msgspec.structs.replace(
                        current, expires_at=expires_at, confidence=wanted.indicator.confidence, trace=wanted.trace
                    )
                )
            return
        if current is not None:
            changes.withdrawn.append(_withdraw(current, now))
        decision = self._decision(wanted.indicator, wanted.verdict, wanted.action, wanted.trace, wanted.at)
        if decision.action == "drop":
            assert self.guardrails.budget is not None
            self.guardrails.budget.record(now)
            self.guardrails.share.add(decision.value)
        changes.new.append(decision)


@dataclass(frozen=True, slots=True)
class _Wanted:
    """What the policy and the guardrails want for an indicator, before any Decision is built."""

    indicator: Indicator
    verdict: PolicyVerdict
    action: Action
    trace: list[GuardrailCheck]
    at: datetime  # when decided: the created_at and expiry a new Decision gets


def _refused_by_guardrails(trace: list[GuardrailCheck]) -> bool:
    """The policy wanted an action and a hard guardrail said no: kept, so "why not?" has an answer.
    The trace is the policy's check, then the guardrails' only when they ran (``_checked``): asked
    of most reconciled indicators, its length answers without a generator."""
    return len(trace) > 1


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
