"""The indicators CSV (header ``value,type,role,confidence``) read for flow matching.

Only network indicators matter here: ``ip`` and ``cidr``. Other types are counted and skipped; a
malformed row is counted, its first few problems kept with their line numbers, and the rest is used.
"""

from __future__ import annotations

import csv
import ipaddress
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from honeyguard.errors import SourceError

_V4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")
_ROLE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_PROBLEMS_KEPT = 20
DEFAULT_CONFIDENCE = 50


class IndicatorFileError(SourceError):
    """The indicators file cannot be used at all (missing, or without the expected header)."""


class IndicatorRow(msgspec.Struct, frozen=True):
    value: str  # canonical text: dotted quad, compressed IPv6, or network/prefix
    role: str
    confidence: int


@dataclass
class IndicatorSet:
    """The usable ip and cidr indicators: plain IPv4 rows and canonical IPv4 ranges go straight into
    Arrow tables (``fast_ips``, ``fast_cidr4``); the others (IPv6, other spellings, quoted fields) are
    parsed one by one (``ips``, ``cidrs``)."""

    ips: list[IndicatorRow] = field(default_factory=list)
    cidrs: list[IndicatorRow] = field(default_factory=list)
    fast_ips: pa.Table | None = None  # value, role, confidence
    fast_cidr4: pa.Table | None = None  # value, role, confidence, prefix, net
    rows: int = 0
    malformed: int = 0
    unsupported_type: int = 0
    problems: list[str] = field(default_factory=list)  # "file:line: reason", the first MAX_PROBLEMS_KEPT

    def __len__(self) -> int:
        fast = sum(t.num_rows for t in (self.fast_ips, self.fast_cidr4) if t is not None)
        return int(fast) + len(self.ips) + len(self.cidrs)

    def ip_table(self) -> pa.Table:
        slow = _table(self.ips)
        return pa.concat_tables([self.fast_ips, slow]) if self.fast_ips is not None else slow

    def cidr_v4_table(self) -> pa.Table:
        nets = [(ipaddress.ip_network(r.value), r) for r in self.cidrs]
        v4 = [(n, r) for n, r in nets if n.version == 4]
        slow = pa.table(
            {
                "value": pa.array([r.value for _, r in v4], pa.string()),
                "role": pa.array([r.role for _, r in v4], pa.string()),
                "confidence": pa.array([r.confidence for _, r in v4], pa.int32()),
                "prefix": pa.array([n.prefixlen for n, _ in v4], pa.int32()),
                "net": pa.array([int(n.network_address) >> (32 - n.prefixlen) for n, _ in v4], pa.int64()),
            }
        )
        return pa.concat_tables([self.fast_cidr4, slow]) if self.fast_cidr4 is not None else slow

    def cidr_v6(self) -> list[tuple[ipaddress.IPv6Network, IndicatorRow]]:
        nets = [(ipaddress.ip_network(r.value), r) for r in self.cidrs]
        return [(n, r) for n, r in nets if isinstance(n, ipaddress.IPv6Network)]

    def ip_values_in_roles(self, roles: list[str]) -> pa.Array:
        """The distinct ``ip`` values with one of ``roles`` (in no particular order)."""
        table = self.ip_table()
        chosen = table.filter(pc.is_in(table["role"], value_set=pa.array(roles, pa.string())))
        return pc.unique(chosen["value"])


def _table(rows: list[IndicatorRow]) -> pa.Table:
    return pa.table(
        {
            "value": pa.array([r.value for r in rows], pa.string()),
            "role": pa.array([r.role for r in rows], pa.string()),
            "confidence": pa.array([r.confidence for r in rows], pa.int32()),
        }
    )


def canonical_ip(text: str) -> str | None:
    """Dotted quad without leading zeros, or compressed lower-case IPv6 (as VPC Flow Logs write them)."""
    match = _V4.fullmatch(text)
    if match:
        octets = [int(o) for o in match.groups()]
        return ".".join(map(str, octets)) if max(octets) <= 255 else None
    if ":" not in text:
        return None
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    return str(address.ipv4_mapped or address)


def _parse_row(row: list[str]) -> tuple[str, IndicatorRow | None]:
    """('', row) for a usable row, ('skip', None) for another indicator type, (reason, None) if bad."""
    if len(row) < 2:
        return "expected value,type,role,confidence", None
    value, kind = row[0].strip(), row[1].strip().lower()
    role = (row[2] if len(row) > 2 else "").strip().lower() or "unknown"
    confidence_text = (row[3] if len(row) > 3 else "").strip()
    if kind not in ("ip", "ipv4", "ipv6", "cidr"):
        return "skip", None
    if not _ROLE.fullmatch(role):
        return f"bad role {role[:40]!r}", None
    try:
        confidence = int(confidence_text) if confidence_text else DEFAULT_CONFIDENCE
    except ValueError:
        return f"bad confidence {confidence_text[:20]!r}", None
    if not 0 <= confidence <= 100:
        return f"confidence {confidence} outside 0-100", None
    if kind == "cidr":
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return f"bad cidr {value[:60]!r}", None
        return "", IndicatorRow(str(network), role, confidence)
    canonical = canonical_ip(value)
    if canonical is None:
        return f"bad ip {value[:60]!r}", None
    return "", IndicatorRow(canonical, role, confidence)


def load_indicators(path: Path) -> IndicatorSet:
    try:
        handle = path.open(newline="", encoding="utf-8", errors="replace")
        with handle:
            header = [h.strip().lower() for h in next(csv.reader([handle.readline()]), [])]
            if header[:2] != ["value", "type"]:
                raise IndicatorFileError("expected the header value,type,role,confidence", file=str(path), line=1)
            return _load_chunks(path, handle)
    except OSError as exc:
        raise IndicatorFileError(f"cannot read indicators: {exc.strerror}", file=str(path)) from None


_CHUNK_LINES = 262_144  # lines handled at once: bounds the transient copies of a large feed


def _load_chunks(path: Path, handle: TextIO) -> IndicatorSet:
    result = IndicatorSet()
    ips: list[pa.Table] = []
    cidrs: list[pa.Table] = []
    first_line = 2
    while lines := list(itertools.islice(handle, _CHUNK_LINES)):  # split as iterating the file does
        ip_table, cidr_table = _load_lines(result, path, lines, first_line)
        ips.append(ip_table)
        cidrs.append(cidr_table)
        first_line += len(lines)
    result.fast_ips = pa.concat_tables(ips) if ips else _table([])
    result.fast_cidr4 = pa.concat_tables(cidrs) if cidrs else None
    return result


# The common rows of a big feed, "1.2.3.4,ip,c2,90" and "5.6.7.0/24,cidr,c2,90", already in canonical
# spelling: recognised for all lines at once (Arrow's regex kernel), so that a 100,000-row feed costs
# milliseconds. Every other line goes through the csv module and _parse_row, one by one.
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_TAIL = r",(?P<role>[a-z0-9][a-z0-9._-]{0,63}),(?P<confidence>100|[1-9]?[0-9])(?:\r\n|\r|\n)?$"
_FAST_IP = rf"^(?P<value>{_OCTET}(?:\.{_OCTET}){{3}}),(?:ip|ipv4){_TAIL}"
_FAST_CIDR = (
    rf"^(?P<value>(?P<a>{_OCTET})\.(?P<b>{_OCTET})\.(?P<c>{_OCTET})\.(?P<d>{_OCTET})"
    rf"/(?P<prefix>3[0-2]|[12]?[0-9])),cidr{_TAIL}"
)


def _load_lines(result: IndicatorSet, path: Path, lines: list[str], first_line: int) -> tuple[pa.Table, pa.Table]:
    """The fast rows of ``lines`` as (ip table, cidr table); the others are parsed into ``result``."""
    texts = pa.array(lines, pa.string())
    is_ip = pc.match_substring_regex(texts, _FAST_IP)
    cidr_rows = pc.indices_nonzero(pc.match_substring_regex(texts, _FAST_CIDR))
    cidrs = pc.extract_regex(texts.take(cidr_rows), _FAST_CIDR)
    canonical = _without_host_bits(cidrs)
    fast_cidrs = set(cidr_rows.filter(canonical).to_pylist())
    slow = [i for i in pc.indices_nonzero(pc.invert(is_ip)).to_pylist() if i not in fast_cidrs]
    result.rows += len(lines) - len(slow)
    for index in slow:
        row = next(csv.reader([lines[index]]), [])
        if not row or not "".join(row).strip() or row[0].startswith("#"):
            continue
        result.rows += 1
        _add(result, path, first_line + index, row)
    return _fast_ip_table(texts.filter(is_ip)), _fast_cidr_table(cidrs.filter(canonical))


def _fast_ip_table(texts: pa.Array) -> pa.Table:
    fields = pc.split_pattern(pc.utf8_rtrim(texts, characters="\r\n"), ",")
    return pa.table(
        {
            "value": pc.list_element(fields, 0),
            "role": pc.list_element(fields, 2),
            "confidence": pc.cast(pc.list_element(fields, 3), pa.int32()),
        }
    )


def _octets_as_int(cidrs: pa.StructArray) -> pa.Array:
    total = pa.scalar(0, pa.int64())
    for name in "abcd":
        total = pc.add(pc.multiply(total, 256), pc.cast(cidrs.field(name), pa.int64()))
    return total


def _without_host_bits(cidrs: pa.StructArray) -> pa.Array:
    """True where the network address has no bits beyond its prefix (so its text is canonical)."""
    host_bits = pc.subtract(pc.shift_left(pa.scalar(1, pa.int64()), pc.subtract(32, _prefix(cidrs))), 1)
    return pc.equal(pc.bit_wise_and(_octets_as_int(cidrs), host_bits), 0)


def _prefix(cidrs: pa.StructArray) -> pa.Array:
    return pc.cast(cidrs.field("prefix"), pa.int64())


def _fast_cidr_table(cidrs: pa.StructArray) -> pa.Table:
    prefix = _prefix(cidrs)
    return pa.table(
        {
            "value": cidrs.field("value"),
            "role": cidrs.field("role"),
            "confidence": pc.cast(cidrs.field("confidence"), pa.int32()),
            "prefix": pc.cast(prefix, pa.int32()),
            "net": pc.shift_right(_octets_as_int(cidrs), pc.subtract(32, prefix)),
        }
    )


def _add(result: IndicatorSet, path: Path, line_number: int, row: list[str]) -> None:
    reason, parsed = _parse_row(row)
    if parsed is not None:
        (result.cidrs if "/" in parsed.value else result.ips).append(parsed)
    elif reason == "skip":
        result.unsupported_type += 1
    else:
        result.malformed += 1
        if len(result.problems) < MAX_PROBLEMS_KEPT:
            result.problems.append(f"{path}:{line_number}: {reason}")
