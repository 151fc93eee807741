"""DNS enforcement: an RPZ zone (BIND, Unbound) and a Route 53 Resolver DNS Firewall domain list."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from honeyguard.export.base import active, label
from honeyguard.model.decision import Decision

ZONE = "rpz.honeyguard"


def _domains(decisions: Sequence[Decision], now: datetime) -> list[Decision]:
    return [d for d in active(decisions, now, types=("domain",)) if d.direction in ("egress", "both")]


def _owner(domain: str) -> str | None:
    """A relative owner name, or None for what is not a valid host name."""
    name = domain.strip().lower().rstrip(".")
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 240:
        return None
    for part in labels:
        if not part or len(part) > 63 or not all(c.isalnum() or c in "-_" for c in part):
            return None
    return name


def _rpz_ip(value: str) -> str | None:
    """Response-IP trigger: 45.142.120.7/32 -> 32.7.120.142.45.rpz-ip (RFC draft rpz 3.3)."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    if net.version == 4:
        return ".".join([str(net.prefixlen), *reversed(str(net.network_address).split("."))]) + ".rpz-ip"
    groups = net.network_address.exploded.split(":")
    compact = [g.lstrip("0") or "0" for g in reversed(groups)]
    return ".".join([str(net.prefixlen), *compact]) + ".rpz-ip"


class Rpz:
    name = "rpz"
    filename = "honeyguard.rpz.zone"
    description = "DNS response policy zone: NXDOMAIN for blocked names (and their subdomains), IP triggers"

    def write(self, decisions: Sequence[Decision], now: datetime, out: TextIO) -> None:
        serial = int(now.timestamp()) & 0xFFFFFFFF
        out.write(f"; honeyguard response policy zone, {now.isoformat()}\n$TTL 300\n"
                  f"@ IN SOA localhost. hostmaster.localhost. ({serial} 3600 600 86400 300)\n"
                  f"@ IN NS localhost.\n")
        written: set[str] = set()
        for d in _domains(decisions, now):
            owner = _owner(d.value)
            if owner is None or owner in written:
                continue
            written.add(owner)
            out.write(f"; {label(d)}\n{owner} CNAME .\n")
            if not _exact_only(d):
                out.write(f"*.{owner} CNAME .\n")
        for d in active(decisions, now, types=("ip", "cidr")):
            if d.direction not in ("egress", "both"):
                continue
            trigger = _rpz_ip(d.value)
            if trigger and trigger not in written:
                written.add(trigger)
                out.write(f"; {label(d)}\n{trigger} CNAME .\n")


def _exact_only(decision: Decision) -> bool:
    """Names below a shared zone are blocked exactly (the guardrail trace says so)."""
    return any(c.check == "domain-popularity" and "exact name only" in c.detail for c in decision.trace)


class Route53DomainList:
    name = "route53-dns-firewall"
    filename = "route53-dns-firewall-domains.txt"
    description = "Route 53 Resolver DNS Firewall domain list file (ImportFirewallDomains: one domain a line)"

    def write(self, decisions: Sequence[Decision], now: datetime, out: TextIO) -> None:
        written: set[str] = set()
        for d in _domains(decisions, now):
            owner = _owner(d.value)
            if owner is None:
                continue
            for name in (owner,) if _exact_only(d) else (owner, f"*.{owner}"):
                if name not in written:
                    written.add(name)
                    out.write(name + "\n")


EXPORTERS = (Rpz(), Route53DomainList())
