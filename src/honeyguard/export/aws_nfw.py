"""AWS Network Firewall: stateful rule groups as CreateRuleGroup inputs, within the service's limits.

Addresses and URLs become Suricata rules (carrying indicator id, role and confidence), split
into groups under the capacity and rules-string limits; domains become domain-list groups
(TLS SNI and HTTP Host, deny list).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import chain
from typing import Any, TextIO

from honeyguard.export.base import in_force, in_stable_order
from honeyguard.export.json_text import dumps, write_document
from honeyguard.export.suricata import rules_in_order
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

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        chosen = in_force(decisions, now)
        # Rules need the stable order (their sids depend on it); domain targets are sorted by name.
        addresses = in_stable_order([d for d in chosen if d.type != "domain"])
        domains = [d for d in chosen if d.type == "domain" and d.direction in ("egress", "both")]
        del chosen
        groups = chain(self._rule_groups(addresses), self._domain_groups(domains))
        write_document(out, {"GeneratedAt": now.isoformat()}, "RuleGroups", (dumps(g, 2) for g in groups))
        out.write("\n")

    def _rule_groups(self, decisions: list[Decision]) -> Iterator[dict[str, Any]]:
        """Groups built one at a time, each handed on before the next is filled (a million rules
        are several hundred MB as text)."""
        rules: list[str] = []
        size = number = 0  # number: of the group being filled, counted from 0
        capacity = self.capacity
        for rule in rules_in_order(decisions):
            taken = len(rule) + 1  # with its newline
            if taken > MAX_RULE_CHARS + 1:
                continue
            if len(rules) >= capacity or size + taken > MAX_RULES_BYTES:
                if rules:
                    yield self._rules_group(number + 1, rules)
                number += 1
                rules, size = [], 0
            rules.append(rule)
            size += taken
        if rules:
            yield self._rules_group(number + 1, rules)

    def _rules_group(self, number: int, rules: list[str]) -> dict[str, Any]:
        return self._group(f"{self.prefix}-rules-{number}", len(rules), {"RulesString": "\n".join(rules)},
                           "addresses and URLs")

    def _domain_groups(self, decisions: list[Decision]) -> Iterator[dict[str, Any]]:
        targets = sorted({_target(d) for d in decisions})
        per_group = self.capacity // len(DOMAIN_TARGET_TYPES)
        for i, start in enumerate(range(0, len(targets), per_group)):
            part = targets[start:start + per_group]
            source = {"RulesSourceList": {"Targets": part, "TargetTypes": DOMAIN_TARGET_TYPES,
                                          "GeneratedRulesType": "DENYLIST"}}
            yield self._group(f"{self.prefix}-domains-{i + 1}", len(part) * len(DOMAIN_TARGET_TYPES),
                              source, "domains")

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
