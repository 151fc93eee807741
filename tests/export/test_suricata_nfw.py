"""Suricata rules parse with a real Suricata rule parser and use only keywords AWS Network Firewall
supports; the Network Firewall rule groups validate against botocore's CreateRuleGroup model."""

from __future__ import annotations

import json

from suricata.update import rule as suricata_rule

from honeyguard.export import render
from honeyguard.export.aws_nfw import MAX_RULES_BYTES, NetworkFirewallGroups
from honeyguard.export.suricata import SURICATA_KEYWORDS, suricata_rules
from honeyguard.model.decision import Decision
from tests.export.conftest import NOW, decision

HEADER_KEYS = {"enabled", "action", "proto", "source_addr", "source_port", "direction", "dest_addr", "dest_port",
               "group", "gid", "sid", "rev", "msg", "flowbits", "metadata", "references", "classtype", "priority",
               "noalert", "features", "raw", "header"}
NOT_ON_AWS = {"dataset", "datarep", "iprep", "lua", "luajit", "geoip", "threshold", "detection_filter",
              "filestore", "filemagic", "filename", "fileext", "filesize", "filemd5", "filesha256", "tag"}


def _rules(decisions: list[Decision]) -> list[dict]:  # type: ignore[type-arg]
    lines = [line for line in render("suricata", decisions, NOW).splitlines() if not line.startswith("#")]
    parsed = [suricata_rule.parse(line) for line in lines]
    assert all(p is not None for p in parsed), "a rule did not parse"
    return parsed  # type: ignore[return-value]


def test_rules_parse_and_use_only_supported_keywords(sample: list[Decision]) -> None:
    parsed = _rules(sample)
    assert len(parsed) >= 8
    for rule in parsed:
        keywords = set(rule.keys()) - HEADER_KEYS
        assert keywords <= SURICATA_KEYWORDS, keywords - SURICATA_KEYWORDS
        assert not keywords & NOT_ON_AWS
        assert rule["action"] in ("drop", "alert", "pass", "reject")
        assert any("honeyguard_confidence 88" in m for m in rule["metadata"])


def test_rule_directions_and_domain_scopes(sample: list[Decision]) -> None:
    by_msg = {r["raw"] for r in _rules(sample)}
    text = "\n".join(by_msg)
    assert "drop ip [45.142.120.7/32] any -> $HOME_NET any" in text
    assert "drop ip $HOME_NET any -> [2a01:4f8:c010::66/128] any" in text
    assert "drop ip [91.92.240.10/32] any -> $HOME_NET" in text and "-> [91.92.240.10/32]" in text
    assert 'dotprefix; content:".evil-c2.example"' in text
    assert 'content:"bot7.duckdns.org"; nocase; startswith; endswith;' in text
    assert 'http.uri; content:"/bins/x86"' in text


def test_sids_are_stable_across_runs_and_subsets(sample: list[Decision]) -> None:
    def sids(decisions: list[Decision]) -> dict[str, int]:
        return {r["raw"].split("(")[0] + r["msg"]: r["sid"] for r in _rules(decisions)}

    full, part = sids(sample), sids(sample[::2])
    assert all(full[key] == sid for key, sid in part.items())
    assert len(set(full.values())) == len(full)


def test_hostile_values_cannot_break_out_of_content() -> None:
    evil = decision('http://91.92.240.10/a";sid:1;)|x', type_="url", direction="egress")
    (parsed,) = _rules([evil])
    assert parsed["sid"] != 1
    assert "|22|" in parsed["raw"] and "|3B|" in parsed["raw"]


def _validate(group: dict) -> None:  # type: ignore[type-arg]
    import botocore.session
    from botocore.validate import ParamValidator

    shape = botocore.session.get_session().get_service_model("network-firewall") \
        .operation_model("CreateRuleGroup").input_shape
    report = ParamValidator().validate(group, shape)
    assert not report.has_errors(), report.generate_report()


def test_network_firewall_groups_validate_and_split_within_limits(sample: list[Decision]) -> None:
    doc = json.loads(render("aws-network-firewall", sample, NOW))
    names = [g["RuleGroupName"] for g in doc["RuleGroups"]]
    assert names == ["honeyguard-rules-1", "honeyguard-domains-1"]
    for group in doc["RuleGroups"]:
        _validate(group)
    domains = doc["RuleGroups"][1]["RuleGroup"]["RulesSource"]["RulesSourceList"]
    assert domains["Targets"] == [".evil-c2.example", "bot7.duckdns.org"]
    assert domains["TargetTypes"] == ["TLS_SNI", "HTTP_HOST"] and domains["GeneratedRulesType"] == "DENYLIST"


def test_network_firewall_splits_at_capacity() -> None:
    many = [decision(f"45.{i // 256}.{i % 256}.9") for i in range(250)]
    many += [decision(f"bad{i}.example", type_="domain", direction="egress") for i in range(250)]
    import io

    out = io.StringIO()
    NetworkFirewallGroups(capacity=100).write(many, NOW, out)
    groups = json.loads(out.getvalue())["RuleGroups"]
    rules = [g for g in groups if "RulesString" in g["RuleGroup"]["RulesSource"]]
    lists = [g for g in groups if "RulesSourceList" in g["RuleGroup"]["RulesSource"]]
    assert [g["Capacity"] for g in rules] == [100, 100, 50]
    assert all(len(g["RuleGroup"]["RulesSource"]["RulesString"]) <= MAX_RULES_BYTES for g in rules)
    assert sum(len(g["RuleGroup"]["RulesSource"]["RulesSourceList"]["Targets"]) for g in lists) == 250
    assert all(g["Capacity"] <= 100 for g in lists)
    for group in groups:
        _validate(group)


def test_rules_generator_is_lazy_and_ordered(sample: list[Decision]) -> None:
    first = list(suricata_rules(sample, NOW))
    assert first == list(suricata_rules(list(reversed(sample)), NOW))
