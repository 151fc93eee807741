"""The Finding record: a conclusion about one of our own assets or principals.

An indicator describes someone else's infrastructure; a finding says something about ours:
an instance that talks to a C2, an instance that scans the internet, a key that leaked.
Its evidence is a typed struct per kind (a tagged union), never a dict of loose keys.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec

FindingKind = Literal[
    "infected-instance",
    "outbound-scanner",
    "malware-download",
    "exposed-key",
    "honeytoken-used",
    "attack-sequence",
]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")

# Fixed namespace so that the same conclusion always gets the same id (storing is idempotent).
_FINDING_NAMESPACE = uuid.UUID("6f1c2a0e-4b1d-5c7e-9a55-0d1f1a2b3c4d")


class _Evidence(msgspec.Struct, kw_only=True, tag_field="kind"):
    pass


class InfectedEvidence(_Evidence, tag="infected-instance"):
    """Accepted traffic between an internal host and c2 / malware-host indicators."""

    roles: list[str]  # the indicators' roles, sorted
    max_confidence: int  # the highest confidence among the contacted indicators
    flows: int  # flow records with those indicators, both directions
    accepted_flows: int
    bytes_out: int  # client -> indicator
    bytes_in: int  # indicator -> client
    ports: list[int]  # the indicators' service ports
    peers: list[str] = []  # the indicator addresses contacted (at most 20)
    beaconing: bool = False
    beacon_peer: str | None = None
    beacon_port: int | None = None
    beacon_connections: int = 0
    beacon_interval_s: float | None = None  # mean gap between connection starts
    beacon_cv: float | None = None  # coefficient of variation of those gaps


class ScannerEvidence(_Evidence, tag="outbound-scanner"):
    """An internal host probing many external addresses on one port."""

    port: int
    protocol: int
    window_targets: int  # the most distinct targets first probed within one sliding window
    window_seconds: int
    window_start: datetime
    total_targets: int  # distinct external addresses on this port in the whole input
    probe_fraction: float  # share of those conversations made only of small or rejected flows
    flows: int


class DownloadEvidence(_Evidence, tag="malware-download"):
    """A large inbound transfer from a malware host."""

    port: int
    protocol: int
    bytes: int  # indicator -> internal host, whole conversation
    max_flow_bytes: int  # the largest single flow record
    flows: int
    roles: list[str]


class HoneytokenEvidence(_Evidence, tag="honeytoken-used"):
    """A honeytoken key served by a sensor, then used against AWS (seen in CloudTrail)."""

    key_id: str
    account_id: str | None = None
    harvester_ip: str | None = None  # the client the key was served to
    harvested_at: datetime | None = None
    sensor: str | None = None
    session: str | None = None
    event_id: str | None = None
    path: str | None = None  # what it fetched: /.env, ~/.aws/credentials...
    user_ips: list[str] = []  # sourceIPAddress of the calls made with the key
    user_agents: list[str] = []
    event_names: list[str] = []  # the API calls, "service:Name", sorted
    calls: int = 0
    errors: list[str] = []  # error codes returned to those calls
    first_used: datetime | None = None
    last_used: datetime | None = None


class DetailsEvidence(_Evidence, tag="details"):
    """For kinds that have no dedicated evidence struct yet: a small typed mapping."""

    values: dict[str, int | float | str] = {}


Evidence = InfectedEvidence | ScannerEvidence | DownloadEvidence | HoneytokenEvidence | DetailsEvidence


class Finding(msgspec.Struct, kw_only=True):
    """A conclusion about an asset (an IP, an instance, a key id), with its evidence."""

    id: str  # stable: finding_id(kind, subject, first_seen)
    kind: FindingKind
    severity: Severity
    subject: str
    indicators: list[str] = []  # the indicator values involved
    evidence: Evidence
    techniques: list[str] = []  # MITRE ATT&CK ids
    first_seen: datetime
    last_seen: datetime
    source: str  # what produced it, e.g. "vpc-flow-logs"

    def __post_init__(self) -> None:
        if self.first_seen.tzinfo is None or self.last_seen.tzinfo is None:
            raise ValueError("first_seen and last_seen must be timezone-aware (UTC)")
        if self.last_seen < self.first_seen:
            raise ValueError("last_seen is before first_seen")


def finding_id(kind: str, subject: str, first_seen: datetime) -> str:
    """The same conclusion from the same data always gets the same id."""
    return str(uuid.uuid5(_FINDING_NAMESPACE, f"{kind}|{subject}|{first_seen.isoformat()}"))


def raise_severity(severity: Severity, steps: int = 1) -> Severity:
    """One level up (or ``steps`` levels), capped at critical."""
    index = min(SEVERITIES.index(severity) + steps, len(SEVERITIES) - 1)
    return SEVERITIES[index]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Finding)


def encode_finding(finding: Finding) -> bytes:
    return _encoder.encode(finding)


def decode_finding(data: bytes | str) -> Finding:
    return _decoder.decode(data)
