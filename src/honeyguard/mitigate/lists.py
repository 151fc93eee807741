"""Never-block ranges, the user's allowlist, popular domains and shared suffixes."""

from __future__ import annotations

import csv
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from honeyguard.config import AllowlistEntry
from honeyguard.errors import ConfigError, ContentError
from honeyguard.mitigate.addresses import IntervalTable, address_number, is_global
from honeyguard.yamlfile import load_yaml_file

CONTENT = Path(__file__).resolve().parents[1] / "content" / "mitigation"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Answers remembered per value, at most this many (then forgotten all at once).
MAX_REMEMBERED = 65_536


class _Range(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    cidr: str
    reason: str


class _RangeFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    ranges: list[_Range]


class _SuffixFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    suffixes: list[str]


def parse_network(value: str) -> Network | None:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


class NeverBlock:
    """Ranges that are never dropped, each with the reason the trace shows."""

    def __init__(self, ranges: Iterable[tuple[str, str]]) -> None:
        self._ranges: list[tuple[Network, str]] = []
        self._reasons: dict[str, str | None] = {}
        for cidr, reason in ranges:
            network = parse_network(cidr)
            if network is None:
                raise ConfigError(f"not an address or range: {cidr!r}", key="never-block")
            self._ranges.append((network, reason))
        # the answer per range, written once (a network's str() formats its address each time)
        self._answers = [f"{reason} ({network})" for network, reason in self._ranges]
        # per family, each range as integers labelled with its place in the list (the first wins)
        self._tables = {
            version: IntervalTable(
                (int(net.network_address), int(net.broadcast_address), index)
                for index, (net, _) in enumerate(self._ranges)
                if net.version == version
            )
            for version in (4, 6)
        }

    @classmethod
    def builtin(cls, *, org_ranges: Iterable[str] = (), sensors: Iterable[str] = ()) -> NeverBlock:
        data = load_yaml_file(CONTENT / "never-block.yaml", _RangeFile, error=ContentError)
        extra = [(c, "the organisation's own range") for c in org_ranges]
        extra += [(c, "one of our sensors") for c in sensors]
        return cls([(r.cidr, r.reason) for r in data.ranges] + extra)

    def reason_for(self, value: str) -> str | None:
        """Why ``value`` (an IP or CIDR) must never be blocked, or None. Remembered per value (the
        ranges are fixed): the defense loop asks it of every address it decides, again at every
        renewal. A first answer for an address parses it once (``address_number``) and bisects
        its family's table; a range or an unusual form takes the network-by-network path."""
        try:
            return self._reasons[value]
        except KeyError:
            pass
        if len(self._reasons) >= MAX_REMEMBERED:
            self._reasons.clear()
        found = self._reasons[value] = self._reason_for(value)
        return found

    def _reason_for(self, value: str) -> str | None:
        address = address_number(value)
        if address is None:
            return self._reason_for_network(value)
        version, number = address
        index = self._tables[version].first_label(number)
        if index is not None:
            return self._answers[index]
        # one address: its network's first and last address are itself
        return None if is_global(version, number) else "not globally routable"

    def _reason_for_network(self, value: str) -> str | None:
        """The general path: a range, or an address written with a prefix length or a zone."""
        network = parse_network(value)
        if network is None:
            return None
        for protected, reason in self._ranges:
            if protected.version == network.version and protected.overlaps(network):
                return f"{reason} ({protected})"
        if not network.network_address.is_global or not network.broadcast_address.is_global:
            return "not globally routable"
        return None


def domain_in(domain: str, zone: str) -> bool:
    return domain == zone or domain.endswith("." + zone)


class DomainGuard:
    """Popular domains (from a ranking file) and shared suffixes where a whole-zone block is wrong."""

    def __init__(self, popular: set[str], suffixes: set[str]) -> None:
        self.popular = popular
        self.suffixes = suffixes

    @classmethod
    def load(cls, ranking_file: Path | None, top: int) -> DomainGuard:
        suffixes = load_yaml_file(CONTENT / "domain-suffixes.yaml", _SuffixFile, error=ContentError).suffixes
        popular = load_ranking(ranking_file, top) if ranking_file else set()
        return cls(popular, {s.lower() for s in suffixes})

    def popular_parent(self, domain: str) -> str | None:
        labels = domain.lower().rstrip(".").split(".")
        for i in range(len(labels) - 1):
            candidate = ".".join(labels[i:])
            if candidate in self.popular:
                return candidate
        return None

    def shared_suffix(self, domain: str) -> str | None:
        labels = domain.lower().rstrip(".").split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            if candidate in self.suffixes:
                return candidate
        return None


def load_ranking(path: Path, top: int) -> set[str]:
    """A Tranco-style CSV: ``rank,domain`` (a header line is tolerated)."""
    found: set[str] = set()
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if len(row) < 2 or not row[0].strip().isdigit():
                    continue
                if int(row[0]) > top:
                    break
                found.add(row[1].strip().lower().rstrip("."))
    except OSError as exc:
        raise ConfigError(f"cannot read the popular-domains file: {exc.strerror}", file=str(path)) from None
    return found


@dataclass(frozen=True)
class Allowlist:
    entries: tuple[AllowlistEntry, ...]

    def match(self, type_: str, value: str, now: datetime) -> AllowlistEntry | None:
        for entry in self.entries:
            if _expired(entry, now):
                continue
            if type_ == "domain" and domain_in(value.lower(), entry.value.lower()):
                return entry
            if type_ in ("ip", "cidr") and _net_overlaps(value, entry.value):
                return entry
            if value == entry.value:
                return entry
        return None


def _expired(entry: AllowlistEntry, now: datetime) -> bool:
    if entry.expires is None:
        return False
    try:
        until = datetime.fromisoformat(entry.expires)
    except ValueError:
        raise ConfigError(f"allowlist expiry {entry.expires!r} is not an ISO date", key="mitigate.allowlist") from None
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return until <= now


def _net_overlaps(a: str, b: str) -> bool:
    first, second = parse_network(a), parse_network(b)
    return first is not None and second is not None and first.version == second.version \
        and first.overlaps(second)
