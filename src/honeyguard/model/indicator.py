"""The Indicator record: a piece of threat infrastructure, scored and expiring."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

IndicatorType = Literal[
    "ip", "cidr", "domain", "url", "sha256", "md5", "aws-access-key-id", "email", "wallet", "ja3", "hassh",
]
IndicatorRole = Literal[
    "scanner", "exploiter", "bruteforcer", "malware-host", "c2", "callback", "proxy", "miner-pool",
    "key-harvester", "key-user", "download", "malware", "exfil", "unknown",
]
IndicatorState = Literal["candidate", "verified", "expired", "allowlisted"]


class EvidenceItem(msgspec.Struct, frozen=True, kw_only=True):
    """One reason an indicator exists: the event (or import) behind it and why it counted."""

    at: datetime
    reason: str  # e.g. "exploit CVE-2021-44228", "ssh brute force", "download URL in payload"
    event_id: str | None = None
    sensor: str | None = None
    location: str | None = None
    source: str | None = None  # "sensor", or the feed / file an import came from
    strength: float = 0.0  # the behaviour's weight in [0, 1]


class Indicator(msgspec.Struct, kw_only=True):
    id: str  # stable: derived from type and value
    type: IndicatorType
    value: str
    roles: list[IndicatorRole]
    first_seen: datetime
    last_seen: datetime
    sightings: int = 0
    sensors: list[str] = []
    locations: list[str] = []
    sources: list[str] = []
    confidence: int = 0  # 0-100
    state: IndicatorState = "candidate"
    cves: list[str] = []
    techniques: list[str] = []
    evidence: list[EvidenceItem] = []  # bounded: the newest and strongest few
    updated_at: datetime | None = None


_NAMESPACE = uuid.UUID("6c1b2f3e-8d4a-5b7c-9e0f-1a2b3c4d5e6f")


def indicator_id(type_: str, value: str) -> str:
    """Stable across runs and machines: the same type and value always get the same id."""
    return f"indicator--{uuid.uuid5(_NAMESPACE, f'{type_}:{value}')}"
