"""The Decision record: what to enforce, and the guardrail trace that says why."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Action = Literal["drop", "alert", "none"]
Direction = Literal["ingress", "egress", "both"]
Origin = Literal["auto", "manual", "import"]
Verdict = Literal["pass", "fail", "soft-fail", "skip"]


class GuardrailCheck(msgspec.Struct, frozen=True, kw_only=True):
    """One check that ran: its name, the figure it looked at, the limit, and its verdict."""

    check: str  # e.g. "never-block", "corroboration", "blast-radius", "hourly-budget"
    verdict: Verdict
    figure: str = ""  # what was measured, e.g. "3 sensors", "412 internal hosts"
    limit: str = ""  # what it was compared with
    detail: str = ""


class Decision(msgspec.Struct, kw_only=True):
    id: str
    indicator_id: str
    type: str  # the indicator's type
    value: str
    action: Action
    direction: Direction
    created_at: datetime
    expires_at: datetime  # nothing is enforced without an expiry
    origin: Origin = "auto"
    reason: str = ""
    roles: list[str] = []
    confidence: int = 0
    trace: list[GuardrailCheck] = []
    simulated: bool = False
    withdrawn_at: datetime | None = None
    # A snapshot of the indicator's evidence when decided, for sharing formats (STIX sightings, MISP).
    sightings: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    cves: list[str] = []
