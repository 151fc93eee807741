"""AWS WAF (v2) IP sets: CreateIPSet inputs, split per family and at the 10,000-address limit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from honeyguard.export.base import active, merged_networks, parsed_networks
from honeyguard.model.decision import Decision

MAX_ADDRESSES = 10_000  # per IP set (AWS WAF quota)


class WafIpSets:
    name = "aws-waf"
    filename = "aws-waf-ipsets.json"
    description = "AWS WAF IP sets (CreateIPSet JSON), one per family and 10,000 addresses"

    def __init__(self, scope: str = "REGIONAL", prefix: str = "honeyguard") -> None:
        self.scope = scope
        self.prefix = prefix

    def write(self, decisions: Sequence[Decision], now: datetime, out: TextIO) -> None:
        nets = parsed_networks(d for d in active(decisions, now, types=("ip", "cidr"))
                               if d.direction in ("ingress", "both"))
        sets = []
        for version, aws_name in ((4, "IPV4"), (6, "IPV6")):
            addresses = [net.text for net in merged_networks(nets, version)]
            for part, start in enumerate(range(0, len(addresses), MAX_ADDRESSES)):
                sets.append({
                    "Name": f"{self.prefix}-ingress-v{version}-{part + 1}",
                    "Scope": self.scope,
                    "IPAddressVersion": aws_name,
                    "Addresses": addresses[start:start + MAX_ADDRESSES],
                    "Description": f"honeyguard ingress drops (IPv{version}, part {part + 1})",
                })
        json.dump({"GeneratedAt": now.isoformat(), "IPSets": sets}, out, indent=1, sort_keys=True)
        out.write("\n")


EXPORTERS = (WafIpSets(),)
