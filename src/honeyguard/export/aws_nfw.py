"""AWS Network Firewall: stateful rule groups as CreateRuleGroup inputs, within the service's limits.

Addresses and URLs become Suricata rules (carrying indicator id, role and confidence), split
into groups under the capacity and rules-string limits; domains become domain-list groups
(TLS SNI and HTTP Host, deny list).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from honeyguard.export.base import active
from honeyguard.export.suricata import suricata_rules
from honeyguard.model.decision import Decision

MAX_CAPACITY = 30_000  # per stateful rule group (service quota)
MAX_RULES_BYTES = 2_000_000  # RulesString
MAX_RULE_CHARS = 8_192
DOMAIN_TARGET_TYPES = ["TLS_SNI", "HTTP_HOST"]


class NetworkFirewallGroups:
    name = "aws-network-firewall"
    filename = "aws-network-firewall-rule-groups.json"
    description = "AWS Network Firewall stateful rule groups (CreateRuleGroup JSON), split within limits"

    def __init__(self, prefix: str = "honeyguard", capacity: int = MAX_CAPACITY) -> None:
        self.prefix = prefix
        self.capacity = min(capacity, MAX_CAPACITY)

    def write(self, decisions: Sequence[Decision], now: datetime, out: TextIO) -> None:
        addresses = [d for d in decisions if d.type != "domain"]  # suricata_rules keeps what is in force
        domains = [d for d in active(decisions, now, types=("domain",)) if d.direction in ("egress", "both")]
        groups = self._rule_groups(addresses, now) + self._domain_groups(domains)
        json.dump({"GeneratedAt": now.isoformat(), "RuleGroups": groups}, out, indent=1, sort_keys=True)
        out.write("\n")

    def _rule_groups(self, decisions: list[Decision], now: datetime) -> list[dict[str, Any]]:
        chunks: list[list[str]] = [[]]
        size = 0
        for rule in suricata_rules(decisions, now):
            if len(rule) > MAX_RULE_CHARS:
                continue
            if len(chunks[-1]) >= self.capacity or size + len(rule) + 1 > MAX_RULES_BYTES:
                chunks.append([])
                size = 0
            chunks[-1].append(rule)
            size += len(rule) + 1
        return [self._group(f"{self.prefix}-rules-{i + 1}", len(rules), {"RulesString": "\n".join(rules)},
                            "addresses and URLs") for i, rules in enumerate(chunks) if rules]

    def _domain_groups(self, decisions: list[Decision]) -> list[dict[str, Any]]:
        targets = sorted({_target(d) for d in decisions})
        per_group = self.capacity // len(DOMAIN_TARGET_TYPES)
        groups = []
        for i, start in enumerate(range(0, len(targets), per_group)):
            part = targets[start:start + per_group]
            source = {"RulesSourceList": {"Targets": part, "TargetTypes": DOMAIN_TARGET_TYPES,
                                          "GeneratedRulesType": "DENYLIST"}}
            groups.append(self._group(f"{self.prefix}-domains-{i + 1}", len(part) * len(DOMAIN_TARGET_TYPES),
                                      source, "domains"))
        return groups

    @staticmethod
    def _group(name: str, capacity: int, source: dict[str, Any], what: str) -> dict[str, Any]:
        return {
            "RuleGroupName": name,
            "Type": "STATEFUL",
            "Capacity": max(1, capacity),
            "Description": f"honeyguard drops: {what}",
            "RuleGroup": {
                "RulesSource": source,
                "StatefulRuleOptions": {"RuleOrder": "STRICT_ORDER"},
            },
        }


def _target(decision: Decision) -> str:
    """Domain-list syntax: a leading dot covers the domain and every name below it."""
    domain = decision.value.lower().rstrip(".")
    exact = any(c.check == "domain-popularity" and "exact name only" in c.detail for c in decision.trace)
    return domain if exact else "." + domain


EXPORTERS = (NetworkFirewallGroups(),)
