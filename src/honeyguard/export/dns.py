"""DNS enforcement: an RPZ zone (BIND, Unbound) and a Route 53 Resolver DNS Firewall domain list."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TextIO

from honeyguard.export.base import active, label, parse_network, write_chunked
from honeyguard.model.decision import Decision

ZONE = "rpz.honeyguard"


def _domains(decisions: Iterable[Decision], now: datetime) -> list[Decision]:
    return [d for d in active(decisions, now, types=("domain",)) if d.direction in ("egress", "both")]


def _owner(domain: str) -> str | None:
    """A relative owner name, or None for what is not a valid host name."""
    name = domain.strip().lower().rstrip(".")
    if name.isascii():  # the usual case, checked in one regex match
        return name if len(name) <= 240 and _ASCII_NAME.fullmatch(name) else None
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 240:
        return None
    for part in labels:
        if not part or len(part) > 63 or not all(c.isalnum() or c in "-_" for c in part):
            return None
    return name


_ASCII_NAME = re.compile(r"(?:[a-z0-9_-]{1,63}\.)+[a-z0-9_-]{1,63}")


def _rpz_ip(value: str) -> str | None:
    """Response-IP trigger: 45.142.120.7/32 -> 32.7.120.142.45.rpz-ip (RFC draft rpz 3.3)."""
    plen = value.partition("/")[2]
    parsed = parse_network(value) if not plen or (plen.isascii() and plen.isdigit()) else None
    if parsed is not None:  # the fast path; other spellings (netmasks) go through ipaddress
        version, start, prefix = parsed
        if version == 4:
            return ".".join([str(prefix), *map(str, reversed(start.to_bytes(4, "big")))]) + ".rpz-ip"
        return ".".join([str(prefix), *(f"{start >> shift & 0xFFFF:x}" for shift in range(0, 128, 16))]) + ".rpz-ip"
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

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        serial = int(now.timestamp()) & 0xFFFFFFFF
        out.write(f"; honeyguard response policy zone, {now.isoformat()}\n$TTL 300\n"
                  f"@ IN SOA localhost. hostmaster.localhost. ({serial} 3600 600 86400 300)\n"
                  f"@ IN NS localhost.\n")
        chosen = active(decisions, now, types=("domain", "ip", "cidr"))
        written: set[str] = set()
        write_chunked(out, self._names(chosen, written))
        write_chunked(out, self._triggers(chosen, written))

    @staticmethod
    def _names(chosen: list[Decision], written: set[str]) -> Iterator[str]:
        for d in chosen:
            if d.type != "domain" or d.direction not in ("egress", "both"):
                continue
            owner = _owner(d.value)
            if owner is None or owner in written:
                continue
            written.add(owner)
            yield f"; {label(d)}\n{owner} CNAME .\n" if _exact_only(d) else \
                f"; {label(d)}\n{owner} CNAME .\n*.{owner} CNAME .\n"

    @staticmethod
    def _triggers(chosen: list[Decision], written: set[str]) -> Iterator[str]:
        for d in chosen:
            if d.type == "domain" or d.direction not in ("egress", "both"):
                continue
            trigger = _rpz_ip(d.value)
            if trigger and trigger not in written:
                written.add(trigger)
                yield f"; {label(d)}\n{trigger} CNAME .\n"


def _exact_only(decision: Decision) -> bool:
    """Names below a shared zone are blocked exactly (the guardrail trace says so)."""
    return any(c.check == "domain-popularity" and "exact name only" in c.detail for c in decision.trace)


class Route53DomainList:
    name = "route53-dns-firewall"
    filename = "route53-dns-firewall-domains.txt"
    description = "Route 53 Resolver DNS Firewall domain list file (ImportFirewallDomains: one domain a line)"

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        write_chunked(out, self._lines(_domains(decisions, now)))

    @staticmethod
    def _lines(domains: list[Decision]) -> Iterator[str]:
        written: set[str] = set()
        for d in domains:
            owner = _owner(d.value)
            if owner is None:
                continue
            for name in (owner,) if _exact_only(d) else (owner, f"*.{owner}"):
                if name not in written:
                    written.add(name)
                    yield name + "\n"


EXPORTERS = (Rpz(), Route53DomainList())
