"""Output formats: JSON ({"findings": [...]}), SARIF 2.1.0 for code-scanning tools, a Rich table."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any
from urllib.parse import quote

import msgspec
from rich.console import Console
from rich.table import Table

from honeyguard.creds.finding import Finding

TOOL_NAME = "honeyguard-creds"
TOOL_URI = "https://github.com/honeyguard/honeyguard/blob/main/docs/creds.md"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


class _JsonReport(msgspec.Struct):
    findings: list[Finding]


def to_json(findings: list[Finding]) -> bytes:
    return msgspec.json.encode(_JsonReport(findings=findings))


# rule id -> (name, short description, level, security-severity)
RULES: dict[str, tuple[str, str, str, str]] = {
    "HG-CREDS-001": ("AwsAccessKeyPairExposed", "AWS access key id and its secret access key exposed",
                     "error", "9.0"),
    "HG-CREDS-002": ("AwsAccessKeyIdExposed", "AWS access key id exposed (no secret found nearby)",
                     "warning", "5.0"),
    "HG-CREDS-003": ("AwsCanaryToken", "AWS canary token (honeytoken) key: a tripwire, not a leak",
                     "note", "0.0"),
    "HG-CREDS-004": ("AwsDocumentationExample", "AWS documentation example key: never valid",
                     "note", "0.0"),
    "HG-CREDS-005": ("AwsResourceId", "AWS IAM resource id (user, role, policy...): not a secret",
                     "note", "1.0"),
}


def rule_for(finding: Finding) -> str:
    if finding.verdict == "canary":
        return "HG-CREDS-003"
    if finding.verdict == "example":
        return "HG-CREDS-004"
    if finding.kind == "resource-id":
        return "HG-CREDS-005"
    return "HG-CREDS-001" if finding.secret_paired else "HG-CREDS-002"


def to_sarif(findings: list[Finding], version: str) -> dict[str, Any]:
    rule_ids = list(RULES)
    rules = [{
        "id": rule_id, "name": name, "shortDescription": {"text": text},
        "fullDescription": {"text": text}, "helpUri": TOOL_URI,
        "defaultConfiguration": {"level": level},
        "properties": {"security-severity": severity, "tags": ["security", "secrets", "aws"]},
    } for rule_id, (name, text, level, severity) in RULES.items()]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "version": version, "informationUri": TOOL_URI,
                                "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": [_result(f, rule_ids) for f in findings],
        }],
    }


def _result(finding: Finding, rule_ids: list[str]) -> dict[str, Any]:
    rule_id = rule_for(finding)
    where = f" in commit {finding.commit[:12]}" if finding.commit else ""
    cell = f" (notebook cell {finding.cell} {finding.cell_part})" if finding.cell else ""
    properties: dict[str, Any] = {
        "verdict": finding.verdict, "severity": finding.severity, "kind": finding.kind,
        "keyIdMasked": finding.key_id_masked, "secretPaired": finding.secret_paired,
        "sessionToken": finding.session_token, "excerpt": finding.excerpt,
    }
    for name, value in (("accountId", finding.account_id), ("commit", finding.commit),
                        ("cell", finding.cell), ("cellPart", finding.cell_part),
                        ("canaryService", finding.canary_service)):
        if value is not None:
            properties[name] = value
    if finding.verification is not None:
        properties["verification"] = msgspec.to_builtins(finding.verification)
    return {
        "ruleId": rule_id,
        "ruleIndex": rule_ids.index(rule_id),
        "level": RULES[rule_id][2],
        "message": {"text": f"{RULES[rule_id][1]}: {finding.key_id_masked}{where}{cell}"},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": _uri(finding.file)},
            "region": {"startLine": finding.line, "startColumn": finding.column},
        }}],
        "partialFingerprints": {"awsKeyIdFile/v1": finding.fingerprint},
        "properties": properties,
    }


def _uri(file: str) -> str:
    """A relative URI reference: posix separators, everything unusual percent-encoded."""
    text = PurePath(file).as_posix() if "\\" in file else file
    return quote(text.removeprefix("./"), safe="/!-._~")


def print_table(findings: list[Finding], console: Console, *, suppressed: int = 0) -> None:
    if not findings:
        console.print(f"no findings{f' ({suppressed} suppressed by the baseline)' if suppressed else ''}")
        return
    table = Table(title=f"AWS credential findings ({len(findings)})", show_lines=False)
    for column in ("location", "commit", "key id", "secret", "account", "verdict", "excerpt"):
        table.add_column(column, overflow="fold")
    for f in findings:
        where = f"{f.file}:{f.line}:{f.column}"
        if f.cell is not None:
            where = f"{f.file} cell {f.cell} {f.cell_part} line {f.line}:{f.column}"
        verdict = f.verdict if f.verification is None else f"{f.verdict} ({f.verification.status})"
        table.add_row(where, (f.commit or "")[:12], f.key_id_masked, "yes" if f.secret_paired else "no",
                      f.account_id or "", verdict, f.excerpt)
    console.print(table)
    if suppressed:
        console.print(f"{suppressed} finding(s) suppressed by the baseline")
