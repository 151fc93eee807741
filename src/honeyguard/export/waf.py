"""AWS WAF (v2) IP sets: CreateIPSet inputs, split per family and at the 10,000-address limit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TextIO

from honeyguard.export.json_text import dumps, write_document
from honeyguard.export.networks import NetworkSets
from honeyguard.model.decision import Decision

MAX_ADDRESSES = 10_000  # per IP set (AWS WAF quota)


class WafIpSets:
    name = "aws-waf"
    filename = "aws-waf-ipsets.json"
    description = "AWS WAF IP sets (CreateIPSet JSON), one per family and 10,000 addresses"

    def __init__(self, scope: str = "REGIONAL", prefix: str = "honeyguard") -> None:
        self.scope = scope
        self.prefix = prefix

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        nets = NetworkSets(decisions, now, directions=("ingress",))
        write_document(out, {"GeneratedAt": now.isoformat()}, "IPSets", (dumps(s, 2) for s in self._sets(nets)))
        out.write("\n")

    def _sets(self, nets: NetworkSets) -> Iterator[dict[str, Any]]:
        for version, aws_name in ((4, "IPV4"), (6, "IPV6")):
            addresses = [text for text, _ in nets.entries(version, "ingress")]
            for part, start in enumerate(range(0, len(addresses), MAX_ADDRESSES)):
                yield {
                    "Name": f"{self.prefix}-ingress-v{version}-{part + 1}",
                    "Scope": self.scope,
                    "IPAddressVersion": aws_name,
                    "Addresses": addresses[start:start + MAX_ADDRESSES],
                    "Description": f"honeyguard ingress drops (IPv{version}, part {part + 1})",
                }


EXPORTERS = (WafIpSets(),)
