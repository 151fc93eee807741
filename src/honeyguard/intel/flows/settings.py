"""Thresholds of the flow-log analytics, with their documented defaults (docs/flows.md)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Count = Annotated[int, msgspec.Meta(ge=1)]
Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Confidence = Annotated[int, msgspec.Meta(ge=0, le=100)]
MemorySize = Annotated[str, msgspec.Meta(pattern=r"^\d{1,6}(\.\d{1,3})?\s?(K|M|G|T|Ki|Mi|Gi|Ti)?B$")]

RFC1918 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
IPV6_ULA = ("fc00::/7",)


class FlowSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every threshold the analysis uses. Defaults are tuned for VPC Flow Logs v2 (1 or 10 min capture)."""

    # Extra internal ranges (the organisation's public ranges, VPC IPv6 blocks, CGNAT...).
    # RFC 1918 and fc00::/7 are always internal.
    internal_cidrs: list[str] = []

    # Infected instances: accepted traffic with indicators in these roles.
    infected_roles: list[str] = msgspec.field(default_factory=lambda: ["c2", "malware-host"])
    # Indicators at or above this confidence make an infected instance "high", below it "medium".
    high_confidence: Confidence = 70

    # Beaconing: at least this many distinct connections (client ports) to the same peer and port,
    # whose start gaps have a coefficient of variation (stddev / mean) at most beacon_max_cv,
    # and a mean gap of at least beacon_min_interval_s (bursts are not beacons).
    beacon_min_connections: Count = 6
    beacon_max_cv: Annotated[float, msgspec.Meta(ge=0.0)] = 0.2
    beacon_min_interval_s: Annotated[float, msgspec.Meta(ge=0.0)] = 10.0

    # Outbound scanners: an internal host first probing at least scan_min_targets distinct external
    # addresses on one port within scan_window_s, where a probe conversation is made only of flows of
    # at most scan_probe_packets packets or REJECTed ones, and at least scan_min_probe_fraction of the
    # host's conversations on that port are probes.
    scan_min_targets: Count = 100
    scan_window_s: Count = 3600
    scan_probe_packets: Count = 3
    scan_min_probe_fraction: Fraction = 0.8

    # Malware downloads: at least this many bytes from a malware host to one internal host.
    download_roles: list[str] = msgspec.field(default_factory=lambda: ["malware-host"])
    download_min_bytes: Count = 1_000_000

    # Candidate C2: external addresses (not indicators) that at least candidate_min_infected infected
    # instances exchanged accepted traffic with, and at most candidate_max_other_hosts other internal hosts.
    candidate_min_infected: Count = 2
    candidate_max_other_hosts: Annotated[int, msgspec.Meta(ge=0)] = 1

    # The engine: DuckDB memory cap (spills to temp_directory beyond it) and threads (None: all cores).
    memory_limit: MemorySize = "1GB"
    threads: Annotated[int, msgspec.Meta(ge=1, le=1024)] | None = None
    # "auto": the native reader when its extension is built, DuckDB's reader for the rest;
    # "duckdb": DuckDB's reader only (same results, slower; docs/flows.md).
    reader: Literal["auto", "duckdb"] = "auto"
