"""The detection rules on small hand-made flow files, and the CIDR tests compiled to SQL."""

from __future__ import annotations

import ipaddress
import random
import tempfile
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.intel.flows import FlowSettings, analyze_flows
from honeyguard.intel.flows.cidrs import v4_prefix_test
from honeyguard.intel.flows.indicators import load_indicators
from honeyguard.model import DetailsEvidence, Finding, InfectedEvidence, decode_finding, encode_finding
from honeyguard.model.finding import raise_severity
from tests.intel.flowgen import HEADER

HOST, C2 = "10.9.0.7", "203.0.113.9"
_SQL = duckdb.connect()  # one engine for the many small property checks
T0 = 1_764_400_000


def _line(
    src: str, dst: str, sport: int, dport: int, start: int, nbytes: int = 500, action: str = "ACCEPT", packets: int = 5
) -> str:
    return f"2 123456789012 eni-1 {src} {dst} {sport} {dport} 6 {packets} {nbytes} {start} {start + 5} {action} OK"


def _analyze(tmp_path: Path, lines: list[str], **overrides: object) -> list[InfectedEvidence]:
    (tmp_path / "f.log").write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    (tmp_path / "i.csv").write_text(f"value,type,role,confidence\n{C2},ip,c2,90\n")
    report = analyze_flows([tmp_path / "f.log"], indicators=tmp_path / "i.csv", settings=FlowSettings(**overrides))  # type: ignore[arg-type]
    return [f.evidence for f in report.findings if isinstance(f.evidence, InfectedEvidence)]


def test_regular_connections_are_a_beacon(tmp_path: Path) -> None:
    lines = [_line(HOST, C2, 40000 + n, 443, T0 + n * 60) for n in range(12)]
    [evidence] = _analyze(tmp_path, lines)
    assert evidence.beaconing and evidence.beacon_connections == 12 and evidence.beacon_interval_s == 60


def test_irregular_connections_are_not(tmp_path: Path) -> None:
    rng = random.Random(3)
    lines = [_line(HOST, C2, 40000 + n, 443, T0 + rng.randint(0, 20_000)) for n in range(30)]
    [evidence] = _analyze(tmp_path, lines)
    assert not evidence.beaconing


def test_one_long_connection_is_not_a_beacon(tmp_path: Path) -> None:
    # One TCP connection reported every capture window looks periodic, but it is one connection.
    lines = [_line(HOST, C2, 40000, 443, T0 + n * 600) for n in range(12)]
    [evidence] = _analyze(tmp_path, lines)
    assert not evidence.beaconing and evidence.flows == 12


def test_bursts_are_not_beacons(tmp_path: Path) -> None:
    lines = [_line(HOST, C2, 40000 + n, 443, T0 + n) for n in range(12)]  # one a second
    assert not _analyze(tmp_path, lines)[0].beaconing
    assert _analyze(tmp_path, lines, beacon_min_interval_s=0.5)[0].beaconing


def test_rejected_and_inbound_traffic_does_not_infect(tmp_path: Path) -> None:
    lines = [_line(HOST, C2, 40000 + n, 443, T0 + n * 60, action="REJECT") for n in range(5)]  # blocked
    lines += [_line(C2, HOST, 50000 + n, 443, T0 + n * 60) for n in range(5)]  # C2 reaching our server
    lines += [_line(HOST, C2, 443, 50000 + n, T0 + n * 60) for n in range(5)]  # and our answers
    assert _analyze(tmp_path, lines) == []


@settings(max_examples=150, deadline=None)
@given(
    network=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)),
    addresses=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20),
)
def test_compiled_prefix_test_agrees_with_ipaddress(network: tuple[int, int], addresses: list[int]) -> None:
    net = ipaddress.IPv4Network((network[0], network[1]), strict=False)
    near = [int(net.network_address) + k for k in (0, 1, net.num_addresses - 1, net.num_addresses)]
    texts = [str(ipaddress.IPv4Address(a % 2**32)) for a in [*addresses, *near]]
    rows = _SQL.execute(f"SELECT a, {v4_prefix_test('a', net)} FROM unnest(?::VARCHAR[]) t(a)", [texts]).fetchall()
    assert {a: bool(inside) for a, inside in rows} == {a: ipaddress.IPv4Address(a) in net for a in texts}


CELL = st.one_of(
    st.sampled_from(["1.2.3.4", "ip", "cidr", "c2", "90", "", "::1", "10.0.0.0/8", '"', "300.1.1.1"]),
    st.text(alphabet='0123456789abcdef.:/-, "x', max_size=16),
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(CELL, min_size=1, max_size=5).map(",".join), max_size=30))
def test_indicator_rows_are_each_used_or_counted(rows: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "i.csv"
        path.write_text("value,type,role,confidence\n" + "\n".join(rows) + "\n")
        loaded = load_indicators(path)
    assert loaded.rows == len(loaded) + loaded.malformed + loaded.unsupported_type
    assert len(loaded.problems) == min(loaded.malformed, 20)
    for value in loaded.ip_table()["value"].to_pylist():
        assert str(ipaddress.ip_address(value)) == value  # canonical


def test_finding_round_trip_and_stable_id(tmp_path: Path) -> None:
    lines = [_line(HOST, C2, 40000 + n, 443, T0 + n * 60) for n in range(12)]
    (tmp_path / "f.log").write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    (tmp_path / "i.csv").write_text(f"value,type,role,confidence\n{C2},ip,c2,90\n")
    first = analyze_flows([tmp_path / "f.log"], indicators=tmp_path / "i.csv").findings
    again = analyze_flows([tmp_path / "f.log"], indicators=tmp_path / "i.csv").findings
    assert [f.id for f in first] == [f.id for f in again]  # storing twice is idempotent
    assert [decode_finding(encode_finding(f)) for f in first] == first
    assert raise_severity("high") == "critical" and raise_severity("critical") == "critical"
    with pytest.raises(ValueError):
        Finding(
            id="x",
            kind="exposed-key",
            severity="low",
            subject="AKIA...",
            source="test",
            evidence=DetailsEvidence(values={"where": "github"}),
            first_seen=datetime(2026, 1, 1),
            last_seen=datetime(2026, 1, 1),
        )


OCTET = st.one_of(st.integers(0, 255).map(str), st.sampled_from(["00", "007", "256", "999"]))
V4_TEXT = st.lists(OCTET, min_size=4, max_size=4).map(".".join)
FEED_ROW = st.tuples(
    st.one_of(V4_TEXT, st.tuples(V4_TEXT, st.integers(0, 33)).map(lambda t: f"{t[0]}/{t[1]}")),
    st.sampled_from(["ip", "ipv4", "cidr", "IP"]),
    st.sampled_from(["c2", "malware-host", "scanner", "C2", "x" * 70]),
    st.one_of(st.integers(0, 101).map(str), st.sampled_from(["", "007", "high"])),
)


def _tables(path: Path) -> tuple[object, ...]:
    loaded = load_indicators(path)
    ips, cidrs = loaded.ip_table(), loaded.cidr_v4_table()
    return (
        sorted(zip(*(ips[c].to_pylist() for c in ips.column_names), strict=True)),
        sorted(zip(*(cidrs[c].to_pylist() for c in cidrs.column_names), strict=True)),
        loaded.rows,
        loaded.malformed,
        len(loaded),
    )


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(FEED_ROW, max_size=40), newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_fast_indicator_rows_read_like_the_csv_module_reads_them(
    rows: list[tuple[str, str, str, str]], newline: str
) -> None:
    # The vectorised fast path takes plain rows; quoting the value sends the same row through the
    # csv module one by one. Both must give the same indicators.
    with tempfile.TemporaryDirectory() as folder:
        plain, quoted = Path(folder) / "plain.csv", Path(folder) / "quoted.csv"
        header = "value,type,role,confidence" + newline
        plain.write_text(header + newline.join(",".join(r) for r in rows) + newline, newline="")
        quoted.write_text(header + newline.join(f'"{r[0]}",' + ",".join(r[1:]) for r in rows) + newline, newline="")
        assert _tables(plain) == _tables(quoted)
