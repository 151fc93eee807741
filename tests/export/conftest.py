from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from honeyguard.model.decision import Decision, GuardrailCheck

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def decision(value: str, *, type_: str = "ip", direction: str = "ingress", action: str = "drop",
             roles: tuple[str, ...] = ("exploiter",), hours: float = 24, exact_only: bool = False,
             **extra: object) -> Decision:
    trace = [GuardrailCheck(check="domain-popularity", verdict="pass", detail="below shared zone x: exact name only")] \
        if exact_only else []
    return Decision(id=f"dec-{type_}-{value}-{direction}", indicator_id=f"indicator--{abs(hash(value)) % 10**8}",
                    type=type_, value=value, action=action, direction=direction, created_at=NOW,  # type: ignore[arg-type]
                    expires_at=NOW + timedelta(hours=hours), roles=list(roles), confidence=88, trace=trace,
                    **extra)  # type: ignore[arg-type]


@pytest.fixture
def sample() -> list[Decision]:
    return [
        decision("45.142.120.7"),
        decision("45.142.121.0/24", type_="cidr", roles=("scanner",)),
        decision("45.142.121.9"),  # inside the /24 above: merged away in interval sets
        decision("2a01:4f8:c010::66", direction="egress", roles=("c2",)),
        decision("91.92.240.10", direction="both", roles=("malware-host",)),
        decision("evil-c2.example", type_="domain", direction="egress", roles=("c2",)),
        decision("bot7.duckdns.org", type_="domain", direction="egress", roles=("c2",), exact_only=True),
        decision("http://91.92.240.10/bins/x86", type_="url", direction="egress", roles=("download",)),
        decision("77.91.68.3", action="alert", roles=("scanner",)),
        decision("77.91.68.4", hours=-1),  # expired
        decision("77.91.68.5", simulated=True),
        decision("77.91.68.6", withdrawn_at=NOW),
    ]
