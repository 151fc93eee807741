"""What ``analyze_flows`` returns: findings (model.Finding) and the figures beside them."""

from __future__ import annotations

import msgspec

from honeyguard.model.finding import Finding


class BlastRadius(msgspec.Struct, kw_only=True):
    """Who talked to an indicator: what blocking it would touch (the mitigation guardrail's input)."""

    indicator: str
    internal_hosts: int  # distinct internal hosts with accepted traffic with it
    flows: int  # accepted flow records
    all_flows: int  # including rejected ones from our side
    roles: list[str]
    confidence: int


class CandidateC2(msgspec.Struct, kw_only=True):
    """An address that several infected instances talk to and few other hosts do; not yet an indicator."""

    value: str
    infected_peers: int
    other_hosts: int
    flows: int
    ports: list[int]
    hosts: list[str]  # the infected instances, sorted (at most 20)


class MalformedCounts(msgspec.Struct, kw_only=True):
    """Lines and files that were not analysed, by reason. None of them stops a run."""

    wrong_field_count: int = 0
    missing_field: int = 0  # "-" where an OK record needs a value
    bad_value: int = 0  # not a number, an unknown action, not an address
    unsupported_version: int = 0
    nodata: int = 0  # NODATA records: no traffic in the capture window
    skipdata: int = 0  # SKIPDATA records: records AWS could not capture
    unreadable_files: int = 0
    indicator_rows: int = 0  # malformed rows of the indicators file


class FlowStats(msgspec.Struct, kw_only=True):
    files: int = 0
    records: int = 0  # OK records read
    header_lines: int = 0
    ipv6_records: int = 0
    inbound_rejected: int = 0  # rejected records from outside: counted, not analysed further
    conversations: int = 0
    indicators: int = 0  # ip and cidr indicators loaded
    indicator_rows_other_types: int = 0
    matched_addresses: int = 0
    seconds: float = 0.0


class FlowReport(msgspec.Struct, kw_only=True):
    findings: list[Finding]
    blast_radius: list[BlastRadius]
    candidate_c2: list[CandidateC2]
    malformed: MalformedCounts
    stats: FlowStats
    problems: list[str] = []  # line-numbered indicator problems, unreadable file names (bounded)
