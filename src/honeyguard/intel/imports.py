"""Indicator imports: CSV (``value,type,role,confidence``) and STIX 2.1 bundles.

A malformed row is reported with its line number and skipped; the rest is imported.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

import msgspec

from honeyguard.errors import HoneyguardError
from honeyguard.model.indicator import IndicatorRole, IndicatorType

TYPES = frozenset(get_args(IndicatorType))
ROLES = frozenset(get_args(IndicatorRole))
_HEADER = ["value", "type", "role", "confidence"]
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z][a-z0-9-]{0,62}$")
_HEX = {"sha256": 64, "md5": 32}


class FeedError(HoneyguardError):
    """The file cannot be imported at all (unknown format, unreadable)."""


class ImportedIndicator(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    value: str
    role: str
    confidence: int
    valid_from: datetime | None = None


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    message: str


class ImportResult(msgspec.Struct, kw_only=True):
    source: str
    indicators: list[ImportedIndicator]
    errors: list[RowError]


def read_import(path: Path) -> ImportResult:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"{path}: cannot read: {exc}") from None
    if text.lstrip().startswith("{"):
        return parse_stix(text, source=path.name)
    return parse_csv(text, source=path.name)


def normalise(type_: str, value: str) -> str:
    """The canonical value for ``type_``; ValueError naming the problem when it is not one."""
    value = value.strip()
    if type_ == "ip":
        return str(ipaddress.ip_address(value))
    if type_ == "cidr":
        return str(ipaddress.ip_network(value, strict=False))
    if type_ == "domain":
        domain = value.lower().rstrip(".")
        if not _DOMAIN.match(domain):
            raise ValueError(f"{value!r} is not a domain name")
        return domain
    if type_ in _HEX:
        if len(value) != _HEX[type_] or not all(c in "0123456789abcdefABCDEF" for c in value):
            raise ValueError(f"{value!r} is not a {type_} (need {_HEX[type_]} hex digits)")
        return value.lower()
    if type_ == "url" and "://" not in value:
        raise ValueError(f"{value!r} is not a URL")
    if not value:
        raise ValueError("empty value")
    return value


def parse_csv(text: str, *, source: str) -> ImportResult:
    result = ImportResult(source=source, indicators=[], errors=[])
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or [h.strip().lower() for h in header] != _HEADER:
        result.errors.append(RowError(line=1, message=f"header must be {','.join(_HEADER)}"))
        return result
    for number, row in enumerate(rows, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        try:
            result.indicators.append(_csv_row(row))
        except ValueError as exc:
            result.errors.append(RowError(line=number, message=str(exc)))
    return result


def _csv_row(row: list[str]) -> ImportedIndicator:
    if len(row) != 4:
        raise ValueError(f"expected 4 fields, got {len(row)}")
    value, type_, role, confidence = (cell.strip() for cell in row)
    type_, role = type_.lower(), role.lower()
    if type_ not in TYPES:
        raise ValueError(f"unknown type {type_!r}")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if not confidence.isdigit() or not 0 <= int(confidence) <= 100:
        raise ValueError(f"confidence {confidence!r} is not an integer 0-100")
    return ImportedIndicator(type=type_, value=normalise(type_, value), role=role, confidence=int(confidence))


# -- STIX 2.1 --------------------------------------------------------------------------------------

_PATTERN = re.compile(
    r"^\[\s*(ipv4-addr|ipv6-addr|domain-name|url|file)\s*:\s*(value|hashes\.'?(SHA-256|MD5)'?)\s*=\s*'((?:[^'\\]|\\.)*)'\s*\]$",
    re.IGNORECASE,
)
_STIX_TYPE = {"ipv4-addr": "ip", "ipv6-addr": "ip", "domain-name": "domain", "url": "url"}
_STIX_ROLE = {"malicious-activity": "exploiter", "anomalous-activity": "scanner", "anonymization": "proxy",
              "compromised": "key-user", "attribution": "unknown", "benign": "unknown", "unknown": "unknown"}


def parse_stix(text: str, *, source: str) -> ImportResult:
    result = ImportResult(source=source, indicators=[], errors=[])
    try:
        bundle = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedError(f"{source}:{exc.lineno}: not JSON: {exc.msg}") from None
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        raise FeedError(f"{source}: not a STIX 2.1 bundle (type must be 'bundle')")
    for index, obj in enumerate(bundle.get("objects") or []):
        if isinstance(obj, dict) and obj.get("type") == "indicator":
            try:
                result.indicators.extend(_stix_indicator(obj))
            except ValueError as exc:
                result.errors.append(RowError(line=index, message=f"objects[{index}] {obj.get('id', '?')}: {exc}"))
    return result


def _stix_indicator(obj: dict[str, Any]) -> Iterator[ImportedIndicator]:
    if obj.get("pattern_type", "stix") != "stix":
        raise ValueError(f"pattern_type {obj.get('pattern_type')!r} is not supported")
    found = _PATTERN.match(str(obj.get("pattern", "")).strip())
    if not found:
        raise ValueError("only single-comparison patterns on addresses, domains, URLs and file hashes are imported")
    object_type, _, algo, raw = found.groups()
    value = raw.replace("\\'", "'").replace("\\\\", "\\")
    if object_type.lower() == "file":
        type_ = "sha256" if (algo or "").upper() == "SHA-256" else "md5"
    else:
        type_ = _STIX_TYPE[object_type.lower()]
        if type_ == "ip" and "/" in value and not value.endswith(("/32", "/128")):
            type_ = "cidr"
    confidence = obj.get("confidence", 50)
    if not isinstance(confidence, int) or not 0 <= confidence <= 100:
        raise ValueError(f"confidence {confidence!r} is not 0-100")
    # Our own role labels are precise; indicator_types are the coarse fallback of other producers.
    roles = {label.split(":", 1)[1] for label in obj.get("labels") or []
             if label.startswith("honeyguard-role:") and label.split(":", 1)[1] in ROLES}
    roles = roles or {_STIX_ROLE.get(t, "unknown") for t in obj.get("indicator_types") or ["unknown"]}
    valid_from = _stix_time(obj.get("valid_from"))
    for role in sorted(roles):
        yield ImportedIndicator(type=type_, value=normalise(type_, value.split("/")[0] if type_ == "ip" else value),
                                role=role, confidence=confidence, valid_from=valid_from)


def _stix_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
