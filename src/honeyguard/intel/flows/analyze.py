"""``analyze_flows``: VPC flow logs + indicators -> findings, blast radius, candidate C2."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from honeyguard.clock import Clock, SystemClock
from honeyguard.errors import HoneyguardError
from honeyguard.intel.flows import queries
from honeyguard.intel.flows.addresses import build_matches
from honeyguard.intel.flows.cidrs import Network, parse_networks
from honeyguard.intel.flows.files import FlowInputError, discover_files, sql_string
from honeyguard.intel.flows.indicators import IndicatorSet, load_indicators
from honeyguard.intel.flows.report import BlastRadius, CandidateC2, FlowReport, FlowStats, MalformedCounts
from honeyguard.intel.flows.scan import CODE, run_scan, status_counts
from honeyguard.intel.flows.settings import IPV6_ULA, RFC1918, FlowSettings
from honeyguard.model.finding import (
    DownloadEvidence,
    Finding,
    InfectedEvidence,
    ScannerEvidence,
    Severity,
    finding_id,
    raise_severity,
)

SOURCE = "vpc-flow-logs"


class FlowEngineError(HoneyguardError):
    """DuckDB could not finish the analysis within its limits."""


MAX_PROBLEMS = 40
# Below this many conversations the queries after the scan run one DuckDB thread each, two at a
# time (measured: edges from 123,000 conversations in 0.021 s on one thread, 0.040 s on two).
ONE_THREAD_BELOW = 1_000_000
MAX_HOSTS_LISTED = 20  # lists in findings are bounded: an instance may touch thousands of addresses
MAX_INDICATORS_LISTED = 50


def analyze_flows(
    paths: Sequence[Path],
    *,
    indicators: IndicatorSet | Path | None = None,
    settings: FlowSettings | None = None,
    clock: Clock | None = None,
) -> FlowReport:
    """Read every flow file under ``paths`` once (natively where the extension is built, with DuckDB
    for the rest) and return what it finds."""
    settings = settings or FlowSettings()
    clock = clock or SystemClock()
    started = clock.monotonic()
    files = discover_files(paths)
    if not files:
        raise FlowInputError("no flow-log files found in " + ", ".join(str(p) for p in paths))
    internal = parse_networks([*RFC1918, *IPV6_ULA, *settings.internal_cidrs])
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The indicators file is read while DuckDB starts and the native reader inflates ahead (its
        # scanners need the beacon targets from it); its errors stop the run as before.
        loading = pool.submit(_indicator_set, indicators)
        beacons = pool.submit(lambda: loading.result().ip_values_in_roles(settings.infected_roles))
        with tempfile.TemporaryDirectory(prefix="honeyguard-flows-") as spill, _connect(settings, spill) as con:
            report = _analyze_within_memory(con, files, (loading, beacons), settings, internal, spill)
    report.stats.seconds = round(clock.monotonic() - started, 3)
    return report


def _indicator_set(indicators: IndicatorSet | Path | None) -> IndicatorSet:
    if isinstance(indicators, Path):
        return load_indicators(indicators)
    return indicators if isinstance(indicators, IndicatorSet) else IndicatorSet()


# The indicator set and the beacon targets drawn from it, both perhaps still loading.
_Loading = tuple["Future[IndicatorSet]", "Future[pa.Array]"]


def _analyze_within_memory(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    loading: _Loading,
    settings: FlowSettings,
    internal: list[Network],
    spill: str,
) -> FlowReport:
    try:
        return _analyze(con, files, loading, settings, internal)
    except duckdb.OutOfMemoryException as exc:
        raise FlowEngineError(
            f"out of memory ({settings.memory_limit}, spilling to {spill}): "
            f"raise --memory-limit or free disk space ({exc})"
        ) from None


def _connect(settings: FlowSettings, spill: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = {sql_string(settings.memory_limit)}")
    con.execute(f"SET temp_directory = {sql_string(spill)}")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # never write to the terminal behind the CLI's back
    if settings.threads:
        con.execute(f"SET threads = {int(settings.threads)}")
    return con


def _analyze(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    loading: _Loading,
    settings: FlowSettings,
    internal: list[Network],
) -> FlowReport:
    scan = run_scan(con, files, settings, internal, loading[1])
    indicator_set = loading[0].result()
    unreadable = scan.unreadable
    ((conversations,),) = con.execute("SELECT count(*) FROM conv").fetchall()
    # What is left runs on tables of at most a few hundred thousand rows, where one thread per query
    # is quicker than two: two run at once instead (the side ones on a second connection to the
    # same database) where two threads are allowed.
    parallel = (settings.threads or os.cpu_count() or 1) > 1 and conversations < ONE_THREAD_BELOW
    if parallel:
        con.execute("SET threads = 1")
    # (the pool is left, so the side thread has finished, before its connection closes)
    with con.cursor() as side_con, ThreadPoolExecutor(max_workers=1) as pool:
        matching = partial(build_matches, side_con if parallel else con, indicator_set)
        matched = pool.submit(matching) if parallel else None
        con.execute(scan.edges_sql)
        if matched is not None:
            matched.result()
        else:
            matching()
        queries.infected_edges(con, settings)
        side_call = partial(_side_queries, side_con, settings)
        side = pool.submit(side_call) if parallel else None
        malformed, stats = _counts(con, files, indicator_set, unreadable)
        hosts = queries.infected_hosts(con)
        contacted = queries.indicators_by_host(con, "infected_edges", settings.infected_roles)
        infected = [row[0] for row in hosts]
        candidates = [_candidate(row) for row in queries.candidate_c2(con, settings, infected)]
        side_rows = side.result() if side is not None else side_call()
    findings = _infected_findings(hosts, contacted, side_rows.beacons, settings)
    findings += _scanner_findings(side_rows.scanners, settings)
    findings += _download_findings(side_rows.downloads, side_rows.download_sources)
    problems = [*indicator_set.problems, *(f"{f}: unreadable, skipped" for f in unreadable)][:MAX_PROBLEMS]
    return FlowReport(
        findings=findings,
        blast_radius=[_blast(row) for row in side_rows.blast_radius],
        candidate_c2=candidates,
        malformed=malformed,
        stats=stats,
        problems=problems,
    )


class _SideRows(msgspec.Struct):
    """What the second connection found: beacons by host, scanner rows, download rows and sources,
    blast-radius rows."""

    beacons: dict[str, queries.Row]
    scanners: list[queries.Row]
    downloads: list[queries.Row]
    download_sources: dict[str, queries.Row]
    blast_radius: list[queries.Row]


def _side_queries(con: duckdb.DuckDBPyConnection, settings: FlowSettings) -> _SideRows:
    downloads = queries.downloads(con, settings)
    return _SideRows(
        beacons=queries.beacons(con, settings),
        scanners=queries.scanners(con, settings),
        downloads=downloads,
        download_sources=queries.indicators_by_host(con, "download_edges", settings.download_roles),
        blast_radius=queries.blast_radius(con),
    )


def _counts(
    con: duckdb.DuckDBPyConnection, files: list[Path], indicator_set: IndicatorSet, unreadable: list[Path]
) -> tuple[MalformedCounts, FlowStats]:
    by_status = status_counts(con)
    invalid_address_flows = _invalid_address_flows(con)
    malformed = MalformedCounts(
        wrong_field_count=int(by_status.get("wrong_field_count", 0)),
        missing_field=int(by_status.get("missing_field", 0)),
        bad_value=int(by_status.get("bad_value", 0)) + int(invalid_address_flows),
        unsupported_version=int(by_status.get("unsupported_version", 0)),
        nodata=int(by_status.get("nodata", 0)),
        skipdata=int(by_status.get("skipdata", 0)),
        unreadable_files=len(unreadable),
        indicator_rows=indicator_set.malformed,
    )
    ipv6, conversations, matched = con.execute(f"""
        SELECT (SELECT coalesce(sum(p.flows), 0) FROM pre p JOIN addr s ON s.a = p.src JOIN addr d ON d.a = p.dst
                WHERE p.status = {CODE["ok"]} AND contains(p.src, ':') AND s.valid AND d.valid),
               (SELECT count(*) FROM conv),
               (SELECT count(DISTINCT canon) FROM matches)
    """).fetchone() or (0, 0, 0)
    inbound_rejected = by_status.get("inbound_rejected", 0)
    stats = FlowStats(
        files=len(files) - len(unreadable),
        records=by_status.get("ok", 0) + inbound_rejected - int(invalid_address_flows),
        header_lines=int(by_status.get("header", 0)),
        ipv6_records=int(ipv6),
        inbound_rejected=int(inbound_rejected),
        conversations=int(conversations),
        indicators=len(indicator_set),
        indicator_rows_other_types=indicator_set.unsupported_type,
        matched_addresses=int(matched),
    )
    return malformed, stats


def _invalid_address_flows(con: duckdb.DuckDBPyConnection) -> int:
    """Records with an address that is not one (bad_value): conv is only read when there is any."""
    ((invalid,),) = con.execute("SELECT count(*) FROM addr WHERE NOT valid").fetchall()
    if not invalid:
        return 0
    ((flows,),) = con.execute("""
        SELECT coalesce(sum(c.flows), 0) FROM conv c
        WHERE c.client IN (SELECT a FROM addr WHERE NOT valid)
           OR c.server IN (SELECT a FROM addr WHERE NOT valid)
    """).fetchall()
    return int(flows)


def _ts(epoch: Any) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


def _infected_findings(
    hosts: list[queries.Row], contacted: dict[str, queries.Row], beacon_by_host: dict[str, queries.Row],
    settings: FlowSettings,
) -> list[Finding]:  # fmt: skip
    findings: list[Finding] = []
    for host, flows, accepted, bytes_out, bytes_in, ports, peers, first, last in hosts:
        values, roles, confidence = contacted[host]
        severity: Severity = "high" if confidence >= settings.high_confidence else "medium"
        evidence = InfectedEvidence(
            roles=sorted(roles),
            max_confidence=int(confidence),
            flows=int(flows),
            accepted_flows=int(accepted),
            bytes_out=int(bytes_out),
            bytes_in=int(bytes_in),
            ports=sorted(ports)[:MAX_HOSTS_LISTED],
            peers=sorted(peers)[:MAX_HOSTS_LISTED],
        )
        beacon = beacon_by_host.get(host)
        if beacon is not None:
            peer, port, connections, mean_gap, cv = beacon
            severity = raise_severity(severity)
            evidence.beaconing = True
            evidence.beacon_peer, evidence.beacon_port = peer, int(port)
            evidence.beacon_connections = int(connections)
            evidence.beacon_interval_s, evidence.beacon_cv = round(float(mean_gap), 3), round(float(cv), 4)
        listed = sorted(values)[:MAX_INDICATORS_LISTED]
        findings.append(_finding("infected-instance", host, severity, listed, evidence, ["T1071"], first, last))
    return findings


def _scanner_findings(rows: list[queries.Row], settings: FlowSettings) -> list[Finding]:
    findings = []
    for row in rows:
        host, port, proto, window_targets, window_end, targets, probe_targets, flows, first, last = row
        window_start = max(int(window_end) - int(settings.scan_window_s) + 1, int(first))
        evidence = ScannerEvidence(
            port=int(port),
            protocol=int(proto),
            window_targets=int(window_targets),
            window_seconds=int(settings.scan_window_s),
            window_start=_ts(window_start),
            total_targets=int(targets),
            probe_fraction=round(int(probe_targets) / int(targets), 4),
            flows=int(flows),
        )
        findings.append(_finding("outbound-scanner", host, "high", [], evidence, ["T1046"], first, last))
    return findings


def _download_findings(rows: list[queries.Row], sources: dict[str, queries.Row]) -> list[Finding]:
    findings = []
    for host, total, biggest, flows, port, proto, first, last in rows:
        values, roles, _confidence = sources[host]
        evidence = DownloadEvidence(
            port=int(port),
            protocol=int(proto),
            bytes=int(total),
            max_flow_bytes=int(biggest),
            flows=int(flows),
            roles=sorted(roles),
        )
        listed = sorted(values)[:MAX_INDICATORS_LISTED]
        findings.append(_finding("malware-download", host, "high", listed, evidence, ["T1105"], first, last))
    return findings


def _finding(
    kind: Any,
    subject: str,
    severity: Severity,
    values: list[str],
    evidence: Any,
    techniques: list[str],
    first: Any,
    last: Any,
) -> Finding:
    first_seen, last_seen = _ts(first), _ts(max(int(first), int(last)))
    return Finding(
        id=finding_id(kind, subject, first_seen),
        kind=kind,
        severity=severity,
        subject=subject,
        indicators=values,
        evidence=evidence,
        techniques=techniques,
        first_seen=first_seen,
        last_seen=last_seen,
        source=SOURCE,
    )


def _blast(row: Any) -> BlastRadius:
    value, hosts, flows, all_flows, roles, confidence = row
    return BlastRadius(
        indicator=value,
        internal_hosts=int(hosts),
        flows=int(flows or 0),
        all_flows=int(all_flows or 0),
        roles=sorted(roles),
        confidence=int(confidence),
    )


def _candidate(row: Any) -> CandidateC2:
    value, infected_peers, others, flows, ports, hosts = row
    return CandidateC2(
        value=value,
        infected_peers=int(infected_peers),
        other_hosts=int(others),
        flows=int(flows),
        ports=sorted(set(ports))[:MAX_HOSTS_LISTED],
        hosts=sorted(hosts)[:MAX_HOSTS_LISTED],
    )
