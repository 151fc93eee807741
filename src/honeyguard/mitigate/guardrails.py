"""The guardrails every drop must pass. Each check returns its figure, limit and verdict.

Hard checks (never-block, allowlists, popular domains) turn a drop into no action at all;
soft checks (corroboration, blast radius, budget, range share) turn it into an alert.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlsplit

from honeyguard.config import MitigationSettings
from honeyguard.mitigate.addresses import address_number
from honeyguard.mitigate.lists import Allowlist, DomainGuard, NeverBlock, parse_network
from honeyguard.model.decision import GuardrailCheck, Verdict
from honeyguard.model.indicator import Indicator

HARD: Verdict = "fail"
SOFT: Verdict = "soft-fail"
#: Checks remembered by their inputs, at most this many (then forgotten all at once).
MAX_REMEMBERED_CHECKS = 4096


def _pass_if(ok: bool) -> Verdict:
    return "pass" if ok else SOFT


class BlastRadius(Protocol):
    def internal_hosts(self, value: str) -> int | None:
        """Distinct internal hosts that exchanged traffic with ``value`` recently; None if unknown."""
        ...


class NoFlowData:
    def internal_hosts(self, value: str) -> int | None:
        return None


@dataclass
class StaticBlastRadius:
    """Blast radius figures from a flow analysis (``honeyguard flows analyze``)."""

    hosts: dict[str, int]

    def internal_hosts(self, value: str) -> int | None:
        return self.hosts.get(value)


@dataclass
class DropBudget:
    """New drops allowed per rolling hour."""

    per_hour: int
    _recent: deque[datetime] = field(default_factory=deque)

    def spent(self, now: datetime) -> int:
        while self._recent and self._recent[0] <= now - timedelta(hours=1):
            self._recent.popleft()
        return len(self._recent)

    def record(self, now: datetime) -> None:
        self._recent.append(now)


@dataclass
class RangeShare:
    """How many addresses of each /24 (IPv4) or /64 (IPv6) are dropped now."""

    counts: Counter[str] = field(default_factory=Counter)

    @staticmethod
    @lru_cache(maxsize=65_536)  # asked of every drop at every step (reset) and every decision
    def block_of(value: str) -> str | None:
        address = address_number(value)
        if address is not None:  # the common case, without building two networks
            version, number = address
            if version == 4:
                return f"{number >> 24}.{number >> 16 & 255}.{number >> 8 & 255}.0/24"
            return str(ipaddress.IPv6Network((number >> 64 << 64, 64)))
        network = parse_network(value)
        if network is None or network.num_addresses != 1:
            return None
        prefix = 24 if network.version == 4 else 64
        return str(ipaddress.ip_network(f"{network.network_address}/{prefix}", strict=False))

    def reset(self, dropped_values: Iterable[str]) -> None:
        self.counts = Counter(b for b in map(self.block_of, dropped_values) if b)

    def add(self, value: str) -> None:
        block = self.block_of(value)
        if block:
            self.counts[block] += 1

    def remove(self, value: str) -> None:
        """A drop counted by ``add`` left (withdrawn or expired)."""
        block = self.block_of(value)
        if block and block in self.counts:
            left = self.counts[block] - 1
            if left > 0:
                self.counts[block] = left
            else:  # no zero entries left behind: as many entries as ranges with drops
                del self.counts[block]


@dataclass
class Guardrails:
    never_block: NeverBlock
    domains: DomainGuard
    allowlist: Allowlist
    settings: MitigationSettings
    blast_radius: BlastRadius = field(default_factory=NoFlowData)
    budget: DropBudget | None = None
    share: RangeShare = field(default_factory=RangeShare)
    # A check whose figures are the same as an earlier one's is that same (frozen) record: most of
    # a busy step's decisions share their state, corroboration, blast radius and budget figures,
    # and formatting each anew measured a third of running the guardrails.
    _checks: dict[tuple[object, ...], GuardrailCheck] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.budget is None:
            self.budget = DropBudget(self.settings.drops_per_hour)

    def _remembered(self, key: tuple[object, ...], make: Callable[[], GuardrailCheck]) -> GuardrailCheck:
        found = self._checks.get(key)
        if found is None:
            if len(self._checks) >= MAX_REMEMBERED_CHECKS:
                self._checks.clear()
            found = self._checks[key] = make()
        return found

    def run(self, indicator: Indicator, now: datetime) -> list[GuardrailCheck]:
        """Every check, in order; all of them run so the trace is complete."""
        return [
            self._state(indicator),
            self._never_block(indicator),
            self._allowlist(indicator, now),
            self._domain(indicator),
            self._corroboration(indicator),
            self._blast_radius(indicator),
            self._budget(now),
            self._range_share(indicator),
        ]

    def _state(self, ind: Indicator) -> GuardrailCheck:
        return self._remembered(("indicator-state", ind.state), lambda: _state_check(ind.state))

    def _never_block(self, ind: Indicator) -> GuardrailCheck:
        targets = _addresses_of(ind)
        if not targets:
            return GuardrailCheck(check="never-block", verdict="skip", detail=f"no address in a {ind.type}")
        for target in targets:
            reason = self.never_block.reason_for(target)
            if reason:
                return GuardrailCheck(check="never-block", verdict=HARD, figure=target, detail=reason)
        return GuardrailCheck(check="never-block", verdict="pass", figure=", ".join(targets))

    def _allowlist(self, ind: Indicator, now: datetime) -> GuardrailCheck:
        entry = self.allowlist.match(ind.type, ind.value, now)
        if entry is None:
            host = _url_host(ind.value) if ind.type == "url" else None
            entry = self.allowlist.match("domain", host, now) if host else None
        if entry is None:
            size = len(self.allowlist.entries)
            return self._remembered(
                ("allowlist", size), lambda: GuardrailCheck(check="allowlist", verdict="pass", figure=f"{size} entries")
            )
        until = entry.expires or "no expiry"
        return GuardrailCheck(
            check="allowlist", verdict=HARD, figure=entry.value, detail=f"{entry.reason} (until {until})"
        )

    def _domain(self, ind: Indicator) -> GuardrailCheck:
        domain = ind.value if ind.type == "domain" else (_url_host(ind.value) if ind.type == "url" else None)
        if not domain or parse_network(domain) is not None:
            return _DOMAIN_SKIPPED
        popular = self.domains.popular_parent(domain)
        if popular and ind.type == "domain":
            return GuardrailCheck(
                check="domain-popularity", verdict=HARD, figure=domain, detail=f"under popular domain {popular}"
            )
        suffix = self.domains.shared_suffix(domain)
        if suffix == domain.lower():
            return GuardrailCheck(
                check="domain-popularity",
                verdict=HARD,
                figure=domain,
                detail="a shared-hosting, CDN or dynamic-DNS zone",
            )
        detail = f"below shared zone {suffix}: exact name only" if suffix else ""
        return GuardrailCheck(check="domain-popularity", verdict="pass", figure=domain, detail=detail)

    def _corroboration(self, ind: Indicator) -> GuardrailCheck:
        have = max(len(ind.sensors), len(ind.sources))
        need = self.settings.min_sensors_for_drop
        return self._remembered(
            ("corroboration", have, need),
            lambda: GuardrailCheck(
                check="corroboration",
                verdict=_pass_if(have >= need),
                figure=f"{have} sensors/sources",
                limit=f">= {need}",
            ),
        )

    def _blast_radius(self, ind: Indicator) -> GuardrailCheck:
        hosts = self.blast_radius.internal_hosts(ind.value)
        limit = self.settings.blast_radius_limit
        return self._remembered(("blast-radius", hosts, limit), lambda: _blast_radius_check(hosts, limit))

    def _budget(self, now: datetime) -> GuardrailCheck:
        assert self.budget is not None
        spent, per_hour = self.budget.spent(now), self.budget.per_hour
        return self._remembered(
            ("hourly-budget", spent, per_hour),
            lambda: GuardrailCheck(
                check="hourly-budget",
                verdict=_pass_if(spent < per_hour),
                figure=f"{spent} new drops in the last hour",
                limit=f"< {per_hour}",
            ),
        )

    def _range_share(self, ind: Indicator) -> GuardrailCheck:
        block = RangeShare.block_of(ind.value) if ind.type == "ip" else None
        if block is None:
            return _RANGE_SHARE_SKIPPED
        size = 256
        dropped = self.share.counts.get(block, 0)
        cap = int(self.settings.max_share_of_24 * size)
        verdict = _pass_if(dropped < cap)
        detail = "" if verdict == "pass" else f"treat {block} as a range decision"
        return GuardrailCheck(
            check="range-share",
            verdict=verdict,
            figure=f"{dropped} dropped in {block}",
            limit=f"< {cap}",
            detail=detail,
        )


def _addresses_of(ind: Indicator) -> list[str]:
    if ind.type in ("ip", "cidr"):
        return [ind.value]
    if ind.type == "url":
        host = _url_host(ind.value)
        return [host] if host and parse_network(host) is not None else []
    return []


def _url_host(url: str) -> str | None:
    try:
        return urlsplit(url if "://" in url else f"http://{url}").hostname
    except ValueError:
        return None


_DOMAIN_SKIPPED = GuardrailCheck(check="domain-popularity", verdict="skip")
_RANGE_SHARE_SKIPPED = GuardrailCheck(check="range-share", verdict="skip")


def _state_check(state: str) -> GuardrailCheck:
    verdict: Verdict = HARD if state in ("allowlisted", "expired") else "pass"
    return GuardrailCheck(check="indicator-state", verdict=verdict, figure=state, limit="not allowlisted or expired")


def _blast_radius_check(hosts: int | None, limit: int) -> GuardrailCheck:
    if hosts is None:
        return GuardrailCheck(
            check="blast-radius", verdict="pass", figure="no flow data", limit=f"<= {limit} internal hosts"
        )
    return GuardrailCheck(
        check="blast-radius", verdict=_pass_if(hosts <= limit), figure=f"{hosts} internal hosts", limit=f"<= {limit}"
    )
