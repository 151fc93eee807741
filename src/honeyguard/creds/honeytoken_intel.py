"""From honeytoken uses to intelligence: the harvester's address (``key-harvester``), each address
that used the key (``key-user``), and one ``honeytoken-used`` Finding per key linking them.

Indicators go in as feed items of the source ``cloudtrail:honeytoken`` (IntelStore.save_feed), so
they persist, and IntelService rebuilds them into the book with the rest of the feeds; when a live
IntelService is given they are folded into its book at once too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec

from honeyguard.creds import keyid
from honeyguard.creds.cloudtrail import HoneytokenMatcher, IngestStats, KeyUse, read_records, split_uses
from honeyguard.intel.service import IntelService
from honeyguard.model.finding import Finding, HoneytokenEvidence, finding_id
from honeyguard.model.honeytoken import IssuedKey
from honeyguard.store.creds import CredsStore
from honeyguard.store.intel import FeedItem, IntelStore

FEED_SOURCE = "cloudtrail:honeytoken"
HARVESTER_CONFIDENCE = 80  # it fetched a bait file and the key was then used: a harvester for sure
USER_CONFIDENCE = 90  # it signed AWS calls with a key nobody legitimate has
_TECHNIQUES = ["T1552.001", "T1078.004"]  # credentials in files; valid cloud accounts


class LinkedUse(msgspec.Struct, kw_only=True):
    use: KeyUse
    harvest: IssuedKey | None


class IndicatorItem(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    value: str
    role: str
    confidence: int
    at: datetime


@dataclass
class IngestReport:
    stats: IngestStats
    linked: list[LinkedUse] = field(default_factory=list)
    indicators: list[IndicatorItem] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    from_attackers: dict[str, KeyUse] = field(default_factory=dict)  # customer keys used by known attackers


def _is_ip(value: str | None) -> bool:
    if not value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False  # "AWS Internal", "ec2.amazonaws.com": a service, not someone's address
    return True


def indicators_for(linked: LinkedUse) -> list[IndicatorItem]:
    out: list[IndicatorItem] = []
    harvest = linked.harvest
    if harvest is not None and _is_ip(harvest.src_ip):
        out.append(IndicatorItem(type="ip", value=harvest.src_ip, role="key-harvester",
                                 confidence=HARVESTER_CONFIDENCE, at=harvest.issued_at))
    for ip in sorted(linked.use.ips):
        if _is_ip(ip):
            out.append(IndicatorItem(type="ip", value=ip, role="key-user", confidence=USER_CONFIDENCE,
                                     at=linked.use.last))
    return out


def finding_for(linked: LinkedUse, previous: Finding | None = None) -> Finding:
    """One finding per key; a later ingest merges into the earlier one (same id, wider times)."""
    use, harvest = linked.use, linked.harvest
    evidence = HoneytokenEvidence(
        key_id=use.key_id, account_id=keyid.account_id(use.key_id),
        harvester_ip=harvest.src_ip if harvest else None, harvested_at=harvest.issued_at if harvest else None,
        sensor=harvest.sensor if harvest else None, session=harvest.session if harvest else None,
        event_id=harvest.event_id if harvest else None, path=harvest.path if harvest else None,
        user_ips=sorted(use.ips), user_agents=sorted(use.user_agents), event_names=sorted(use.event_names),
        calls=use.calls, errors=sorted(use.errors), first_used=use.first, last_used=use.last)
    old = previous.evidence if previous is not None else None
    if isinstance(old, HoneytokenEvidence):
        evidence = _merge(old, evidence)
    first_seen = harvest.issued_at if harvest else (previous.first_seen if previous else use.first)
    first_seen = min(first_seen, evidence.first_used or first_seen)
    last_seen = max(evidence.last_used or use.last, first_seen)
    values = ([evidence.harvester_ip] if evidence.harvester_ip else []) + [
        ip for ip in evidence.user_ips if ip != evidence.harvester_ip]
    return Finding(
        id=previous.id if previous else finding_id("honeytoken-used", use.key_id, first_seen),
        kind="honeytoken-used", severity="high", subject=use.key_id, indicators=values, evidence=evidence,
        techniques=list(_TECHNIQUES), first_seen=first_seen, last_seen=last_seen, source=FEED_SOURCE)


def _merge(old: HoneytokenEvidence, new: HoneytokenEvidence) -> HoneytokenEvidence:
    def union(a: list[str], b: list[str]) -> list[str]:
        return sorted(set(a) | set(b))[:200]

    return msgspec.structs.replace(
        new, harvester_ip=new.harvester_ip or old.harvester_ip, harvested_at=new.harvested_at or old.harvested_at,
        sensor=new.sensor or old.sensor, session=new.session or old.session, event_id=new.event_id or old.event_id,
        path=new.path or old.path, user_ips=union(old.user_ips, new.user_ips),
        user_agents=union(old.user_agents, new.user_agents), event_names=union(old.event_names, new.event_names),
        errors=union(old.errors, new.errors), calls=old.calls + new.calls,
        first_used=min(filter(None, (old.first_used, new.first_used)), default=None),
        last_used=max(filter(None, (old.last_used, new.last_used)), default=None))


def link(uses: dict[str, KeyUse], lookup: Callable[[str], IssuedKey | None]) -> list[LinkedUse]:
    return [LinkedUse(use=use, harvest=lookup(key)) for key, use in sorted(uses.items())]


def analyse(paths: Iterable[str | Path], *, matcher: HoneytokenMatcher,
            lookup: Callable[[str], IssuedKey | None],
            previous: Callable[[str], Finding | None] = lambda _key: None,
            attacker_ips: Container[str] = frozenset()) -> IngestReport:
    """Read CloudTrail files, find honeytoken uses (and customer keys used from ``attacker_ips``),
    and derive indicators and findings (no writes)."""
    stats = IngestStats()
    uses = split_uses(read_records(paths, stats), matcher, stats, attacker_ips)
    report = IngestReport(stats=stats, linked=link(uses.honeytoken, lookup), from_attackers=uses.from_attackers)
    for linked in report.linked:
        report.indicators.extend(indicators_for(linked))
        report.findings.append(finding_for(linked, previous(linked.use.key_id)))
    return report


def ingest(paths: Iterable[str | Path], *, creds_store: CredsStore, intel_store: IntelStore,
           decoy_accounts: Iterable[str] = (), intel_service: IntelService | None = None,
           attacker_ips: Container[str] = frozenset()) -> IngestReport:
    """Analyse and persist: feed items and findings in the state store (and a live book if given)."""
    def previous(key: str) -> Finding | None:
        found = intel_store.findings(kind="honeytoken-used", subject=key, limit=1)
        return found[0] if found else None

    matcher = HoneytokenMatcher(creds_store.honeytoken_ids(), decoy_accounts)
    report = analyse(paths, matcher=matcher, lookup=creds_store.issued, previous=previous,
                     attacker_ips=attacker_ips)
    items = [FeedItem(source=FEED_SOURCE, type=i.type, value=i.value, role=i.role, confidence=i.confidence,
                      at=i.at) for i in report.indicators]
    intel_store.save_feed(items)
    intel_store.save_findings(report.findings)
    if intel_service is not None:
        for item in items:
            intel_service.book.observe_feed(type_=item.type, value=item.value, role=item.role,
                                            confidence=item.confidence, source=item.source, at=item.at)
    return report
