"""Baseline: fingerprints of findings already known (accepted, rotated, tracked elsewhere).
A later scan suppresses them, so only new exposures are reported."""

from __future__ import annotations

from pathlib import Path

import msgspec

from honeyguard.creds.finding import Finding
from honeyguard.errors import ContentError


class BaselineEntry(msgspec.Struct, kw_only=True):
    fingerprint: str
    key_id_masked: str  # for the reader: which key this line is about
    file: str


class Baseline(msgspec.Struct, kw_only=True):
    version: int = 1
    tool: str = "honeyguard creds scan"
    entries: list[BaselineEntry] = msgspec.field(default_factory=list)

    def fingerprints(self) -> frozenset[str]:
        return frozenset(e.fingerprint for e in self.entries)


def load_baseline(path: Path) -> Baseline:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ContentError(f"cannot read baseline: {exc.strerror or exc}", file=str(path)) from None
    try:
        return msgspec.json.decode(raw, type=Baseline)
    except msgspec.DecodeError as exc:
        raise ContentError(f"not a baseline file: {exc}", file=str(path)) from None


def write_baseline(path: Path, findings: list[Finding], previous: Baseline | None = None) -> Baseline:
    """Known findings plus the new ones, one entry per fingerprint, sorted for stable diffs."""
    entries = {e.fingerprint: e for e in (previous.entries if previous else [])}
    for finding in findings:
        entries.setdefault(finding.fingerprint, BaselineEntry(
            fingerprint=finding.fingerprint, key_id_masked=finding.key_id_masked, file=finding.file))
    baseline = Baseline(entries=sorted(entries.values(), key=lambda e: (e.file, e.fingerprint)))
    try:
        path.write_bytes(msgspec.json.format(msgspec.json.encode(baseline), indent=2) + b"\n")
    except OSError as exc:
        raise ContentError(f"cannot write baseline: {exc.strerror or exc}", file=str(path)) from None
    return baseline


def suppress(findings: list[Finding], baseline: Baseline) -> tuple[list[Finding], int]:
    known = baseline.fingerprints()
    kept = [f for f in findings if f.fingerprint not in known]
    return kept, len(findings) - len(kept)
