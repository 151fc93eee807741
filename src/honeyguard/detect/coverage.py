"""Which CISA KEV CVEs the rules cover, and which network-reachable KEV entries they do not.

The KEV catalog has no attack-vector field, so "network-reachable" is a documented heuristic
over the entry's name and description: local privilege escalations and client-side products
(browsers, office documents, mobile and desktop operating systems) are set aside.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec

from honeyguard.detect.rules import Rule
from honeyguard.errors import ContentError

_NOT_NETWORK = re.compile(
    r"privilege escalation|elevation of privilege|local privilege|\blocal\b.*\b(?:user|attacker)\b|"
    r"use-after-free|type confusion|sandbox|out-of-bounds write vulnerability in (?:the )?kernel",
    re.I)
_CLIENT_PRODUCTS = re.compile(
    r"chrom(?:e|ium)|firefox|safari|webkit|internet explorer|\bedge\b|office|word|excel|powerpoint|outlook|"
    r"acrobat|reader|flash|android|\bios\b|ipados|macos|win32k|windows kernel|kernel|photoshop|winrar|7-zip|"
    r"itunes|quicktime|java se|jre|silverlight",
    re.I)


class KevEntry(msgspec.Struct, kw_only=True):
    cveID: str
    vendorProject: str = ""
    product: str = ""
    vulnerabilityName: str = ""
    shortDescription: str = ""
    dateAdded: str = ""


class _Catalog(msgspec.Struct, kw_only=True):
    vulnerabilities: list[KevEntry]


def load_kev(path: Path) -> list[KevEntry]:
    try:
        return msgspec.json.decode(path.read_bytes(), type=_Catalog).vulnerabilities
    except OSError as exc:
        raise ContentError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    except (msgspec.DecodeError, json.JSONDecodeError) as exc:
        raise ContentError(f"not a KEV catalog: {exc}", file=str(path)) from None


def network_reachable(entry: KevEntry) -> bool:
    """Heuristic: does exploiting this entry start with traffic a honeypot can receive?"""
    text = f"{entry.vulnerabilityName} {entry.shortDescription}"
    product = f"{entry.vendorProject} {entry.product}"
    return not (_NOT_NETWORK.search(text) or _CLIENT_PRODUCTS.search(product))


def coverage_markdown(rules: list[Rule], kev: list[KevEntry]) -> str:
    covered_by: dict[str, list[str]] = {}
    for rule in rules:
        for cve in rule.spec.cves:
            covered_by.setdefault(cve, []).append(rule.id)
    in_kev = {entry.cveID for entry in kev}
    covered = [e for e in kev if e.cveID in covered_by]
    missing = [e for e in kev if e.cveID not in covered_by and network_reachable(e)]
    out = [
        f"Rules name {len(covered_by)} CVEs; {len(covered)} of the {len(kev)} KEV entries are covered; "
        f"{len(missing)} network-reachable KEV entries are not yet "
        f"({len(kev) - len(covered) - len(missing)} others look local or client-side).",
        "",
        "### KEV CVEs covered",
        "",
        "| CVE | vendor | product | rules |",
        "|---|---|---|---|",
    ]
    out += [f"| {e.cveID} | {_cell(e.vendorProject)} | {_cell(e.product)} | {', '.join(covered_by[e.cveID])} |"
            for e in sorted(covered, key=lambda e: e.cveID)]
    outside = sorted(set(covered_by) - in_kev)
    if outside:
        out += ["", "### CVEs covered that are not in KEV", "", ", ".join(outside)]
    out += ["", "### Network-reachable KEV entries not covered yet", "", "| CVE | vendor | product | name |",
            "|---|---|---|---|"]
    out += [f"| {e.cveID} | {_cell(e.vendorProject)} | {_cell(e.product)} | {_cell(e.vulnerabilityName)} |"
            for e in sorted(missing, key=lambda e: (e.vendorProject.lower(), e.cveID))]
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
