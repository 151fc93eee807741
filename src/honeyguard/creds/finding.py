"""The records the scanner produces. A Finding never holds a secret; a Hit does, and stays in memory."""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

from honeyguard.creds.judge import Verdict
from honeyguard.creds.keyid import KeyKind

Severity = Literal["high", "medium", "low", "note"]
CellPart = Literal["source", "output"]


class Verification(msgspec.Struct, kw_only=True, frozen=True):
    """What STS GetCallerIdentity said about the pair (only with --verify)."""

    status: Literal["valid", "invalid", "error", "skipped"]
    arn: str | None = None
    account: str | None = None
    detail: str | None = None


class Finding(msgspec.Struct, kw_only=True):
    file: str  # path as given (archive members: outer.zip!inner/path)
    line: int  # 1-based; in a notebook, the line within the cell
    column: int  # 1-based, in characters
    key_id: str
    key_id_masked: str
    kind: KeyKind
    secret_paired: bool
    session_token: bool
    account_id: str | None
    verdict: Verdict
    severity: Severity
    excerpt: str  # the line around the key, key id masked and secrets redacted
    fingerprint: str  # stable across line moves and commits: key id, kind and file
    commit: str | None = None
    cell: int | None = None  # notebook cell, 1-based
    cell_part: CellPart | None = None
    canary_service: str | None = None
    verification: Verification | None = None


class Hit(msgspec.Struct, kw_only=True):
    """A finding and the secrets that go with it, for --verify; never serialised."""

    finding: Finding
    secret: str | None = None
    session_token: str | None = None


class Origin(msgspec.Struct, kw_only=True, frozen=True):
    """Where a scanned buffer came from."""

    file: str
    commit: str | None = None
    cell: int | None = None
    cell_part: CellPart | None = None
    line_map: tuple[int, ...] | None = None  # buffer line index (0-based) -> real line number


def severity_of(kind: KeyKind, verdict: Verdict, paired: bool) -> Severity:
    if verdict != "exposed":
        return "note"
    if kind == "resource-id":
        return "low"
    return "high" if paired else "medium"


def fingerprint(key_id: str, file: str) -> str:
    """Same key in the same file is one finding for the baseline, whatever line or commit."""
    return hashlib.sha256(f"aws-key-id/v1\0{key_id}\0{file}".encode()).hexdigest()[:32]
