"""The native flow reader (_fastscan) against the DuckDB reader: the same tables on any input.

The core test feeds random mixes of well-formed, almost-well-formed and binary lines, in random
chunk sizes, plain and gzip, with tiny table caps, through both readers and compares what the
analysis reads after the scan (lines per status, ``conv``, ``addr``, ``edges``) row by row (the beacon
start lists compared as multisets: their order is not part of the contract).
"""

from __future__ import annotations

import gzip
import os
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyguard.intel.flows import FlowSettings, IndicatorFileError, analyze_flows, native
from honeyguard.intel.flows.cidrs import parse_networks
from honeyguard.intel.flows.native_tables import arrow_tables, conversation_tables
from honeyguard.intel.flows.scan import run_scan, status_counts
from honeyguard.intel.flows.settings import IPV6_ULA, RFC1918
from tests.intel.flowgen import HEADER, write_flow_logs, write_indicators

BEACON = "203.0.113.50"
T0 = 1_764_400_000
INTERNAL = parse_networks([*RFC1918, *IPV6_ULA, "100.64.0.0/10"])


def test_the_extension_is_built_in_ci() -> None:
    # Optional at runtime (the DuckDB reader takes over), required where CI builds the project.
    assert native.available() or os.environ.get("CI") != "true"


BEACONS = [BEACON, "10.0.0.07", "2001:db8::1"]


def _normal(rows: list[Any]) -> list[Any]:
    """Rows sorted, beacon start lists as multisets (their order is not part of the contract)."""
    return sorted(
        (tuple(sorted(v, key=lambda s: (s["t"], s["p"])) if isinstance(v, list) else v for v in row) for row in rows),
        key=repr,
    )


def _tables(files: list[Path], reader: str) -> tuple[list[Any], list[Path]]:
    """What the analysis reads after the scan: lines per status, and ``conv``, ``addr`` and ``edges``
    (columns, types and rows)."""
    con = duckdb.connect()
    con.execute("SET threads = 2")
    flow_settings = FlowSettings(reader="auto" if reader == "native" else "duckdb", threads=2, scan_probe_packets=3)
    scan = run_scan(con, files, flow_settings, INTERNAL, BEACONS)
    con.execute(scan.edges_sql)
    tables: list[Any] = [status_counts(con)]
    for table in ("conv", "addr", "edges"):
        described = [(c[0], str(c[1])) for c in con.execute(f"DESCRIBE {table}").fetchall()]
        tables.append([described, *_normal(con.execute(f"SELECT * FROM {table}").fetchall())])
    con.close()
    return tables, scan.unreadable


def _same_tables(files: list[Path]) -> None:
    assert native.available()
    assert _tables(files, "native") == _tables(files, "duckdb")


def _record(
    src: str, dst: str, sport: str, dport: str, proto: str, packets: str, size: str, start: str, action: str
) -> str:
    return _full_record(src, dst, sport, dport, proto, packets, size, start, action, ("123456789012", "eni-0a1", "-"))


def _full_record(
    src: str, dst: str, sport: str, dport: str, proto: str, packets: str, size: str, start: str, action: str,
    free: tuple[str, str, str],
) -> str:  # fmt: skip
    """``free``: account, interface and end, the fields the analysis does not read (any token)."""
    account, interface, end = free
    return f"2 {account} {interface} {src} {dst} {sport} {dport} {proto} {packets} {size} {start} {end} {action} OK"


ADDRESS = st.one_of(
    st.sampled_from([BEACON, BEACON, "10.0.0.5", "10.0.0.6", "100.64.1.2", "100.128.0.1", "52.1.2.3", "8.8.8.8"]),
    st.sampled_from(["0.0.0.0", "255.255.255.255", "172.31.255.255", "172.32.0.0", "192.168.1.1", "11.0.0.1"]),
    st.sampled_from(["10.0.0.05", "256.1.1.1", "1.2.3", "2600:1f18::5", "fd00::1", "-", "1.2.3.4.5", "10.0.0.07"]),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda o: ".".join(map(str, o))),
)
ODD_NUMBER = st.sampled_from(["65536", "999999999999999999", "1000000000000000000", "007", "+5", "-1", "1e3", "x", "-"])
PORT = st.one_of(st.sampled_from(["0", "22", "443", "443", "40000", "65535"]), st.integers(0, 65535).map(str))
# Any printable ASCII (0x21-0x7f: quotes, '#', ';', DEL...), as AWS never writes but an attacker can.
FREE_TOKEN = st.one_of(
    st.integers(1000, 1100).map(lambda n: "a" * n),  # around the 1 KiB line bound
    st.just("123456789012"),
    st.text(alphabet=[chr(c) for c in range(0x21, 0x80)], min_size=1, max_size=30),
)
PACKETS = st.sampled_from(["1", "2", "3", "3", "4", "60", "999999999999999999"])
SIZE = st.one_of(st.sampled_from(["0", "44", "999999999999999999"]), st.integers(0, 10**9).map(str))


@st.composite
def _good(draw: Any) -> str:
    """Mostly well-formed records, with equal ports, probe-sized packets and beacon targets common."""
    odd = draw(st.integers(0, 9)) == 0
    sport = draw(ODD_NUMBER if odd and draw(st.booleans()) else PORT)
    dport = sport if draw(st.integers(0, 4)) == 0 else draw(ODD_NUMBER if odd else PORT)
    return _full_record(
        draw(ADDRESS),
        draw(ADDRESS),
        sport,
        dport,
        draw(st.sampled_from(["6", "6", "17", "1", "255", "256", "06"])),
        draw(ODD_NUMBER if odd else PACKETS),
        draw(SIZE),
        draw(st.integers(1_764_400_000, 1_764_400_100).map(str)),
        draw(st.sampled_from(["ACCEPT", "REJECT", "ACCEPT", "REJECT", "accept", "MAYBE", "-"])),
        draw(st.tuples(FREE_TOKEN, FREE_TOKEN, FREE_TOKEN)),
    )


GOOD = _good()
MUTATION = st.sampled_from(["", " ", "  ", "\r", "\t", " EXTRA", "\x00", "\xff", "é", " NODATA", " SKIPDATA"])


@st.composite
def _line(draw: Any) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        return draw(GOOD).encode()
    if kind == 6:  # a well-formed line with one insertion or replacement somewhere
        line = draw(GOOD)
        at = draw(st.integers(0, len(line)))
        cut = draw(st.integers(0, 2))
        return (line[:at] + draw(MUTATION) + line[at + cut :]).encode("utf-8", "surrogateescape")
    if kind == 7:
        return draw(st.sampled_from([HEADER, "", "2 1 e - - - - - - - 1 2 - NODATA", "3" + draw(GOOD)[1:]])).encode()
    if kind == 8:
        return draw(st.binary(max_size=60))
    return draw(GOOD).encode() + b" " + b"x" * draw(st.integers(900, 2100))  # around the 1 KiB line bound


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(_line(), max_size=60),
    newline_at_end=st.booleans(),
    compress=st.booleans(),
    chunk=st.integers(1, 300),
    caps=st.one_of(st.just((10**6, 10**6)), st.tuples(st.integers(0, 8), st.integers(0, 3))),
    leftover_limit=st.sampled_from([1 << 30, 1 << 30, 0, 200]),
)
def test_native_pre_equals_duckdb_pre(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[bytes],
    newline_at_end: bool,
    compress: bool,
    chunk: int,
    caps: tuple[int, int],
    leftover_limit: int,
) -> None:
    monkeypatch.setattr(native, "CHUNK", chunk)
    monkeypatch.setattr(native, "READ", chunk)
    monkeypatch.setattr(native, "MAX_GROUPS", caps[0])
    monkeypatch.setattr(native, "MAX_STARTS", caps[1])
    monkeypatch.setattr(native, "LEFTOVER_LIMIT", leftover_limit)
    text = b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    if not text:
        text = b"\n"  # an empty file is not a flow file (discovery skips it)
    path = tmp_path / ("fuzz.log.gz" if compress else "fuzz.log")
    path.write_bytes(gzip.compress(text) if compress else text)
    _same_tables([path, _write(tmp_path / "second.log", [_beacon_record()] * 3)])


def _beacon_record() -> str:
    return _record("10.0.0.5", BEACON, "40000", "443", "6", "5", "10", str(T0), "ACCEPT")


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    return path


def test_default_caps_and_chunks_on_many_files(tmp_path: Path) -> None:
    out = [_record(f"10.0.{i % 7}.{i % 250}", f"52.1.{i % 5}.{i % 9}", str(40000 + i), "443", "6", str(i % 5),
                   str(i * 7), str(T0 + i), "ACCEPT") for i in range(3000)]  # fmt: skip
    scans = [_record(f"45.{i % 3}.0.1", "10.0.0.5", "5555", str(i % 100), "6", "1", "40", str(T0), "REJECT")
             for i in range(500)]  # fmt: skip
    records = out + scans
    files = [_write(tmp_path / f"f{n}.log", records[n::5]) for n in range(5)]
    (tmp_path / "f5.log.gz").write_bytes(gzip.compress(("\n".join(records[:700]) + "\n").encode()))
    _same_tables([*files, tmp_path / "f5.log.gz"])


def test_files_the_native_reader_does_not_take_whole(tmp_path: Path) -> None:
    good = _beacon_record() + "\n"
    member = gzip.compress((HEADER + "\n" + good * 50).encode())
    (tmp_path / "two-members.log.gz").write_bytes(member + gzip.compress(good.encode()))
    (tmp_path / "padded.log.gz").write_bytes(member + b"\0" * 8)
    (tmp_path / "truncated.log.gz").write_bytes(member[: len(member) // 2])
    (tmp_path / "not-gzip.log.gz").write_bytes(good.encode())
    (tmp_path / "upper.LOG.GZ").write_bytes(member)
    (tmp_path / "plain.log").write_bytes(good.encode() * 4)
    # well-formed but for length: DuckDB drops lines over its 64 KiB line size, C leaves them over
    long_account = _full_record(
        "10.0.0.5", "8.8.8.8", "40000", "53", "17", "1", "80", str(T0), "ACCEPT", ("1" * 70_000, "e", "-")
    )
    (tmp_path / "long.log").write_text((long_account + "\n" + good) * 3)
    files = sorted(p for p in tmp_path.iterdir())
    native_tables, native_unreadable = _tables(files, "native")
    duckdb_tables, duckdb_unreadable = _tables(files, "duckdb")
    assert native_tables == duckdb_tables
    assert sorted(native_unreadable) == sorted(duckdb_unreadable)
    assert {p.name for p in native_unreadable} >= {"truncated.log.gz", "not-gzip.log.gz"}


def test_both_ways_of_building_the_tables(tmp_path: Path) -> None:
    # Only well-formed lines (and headers) leave DuckDB nothing analysed: the tables come from the
    # native conversations. A non-canonical port ("0443", OK for DuckDB, left over by C) on a key the
    # native reader also folds makes DuckDB's part hold analysed records: both are summed into pre.
    good = [_record("10.0.0.5", "52.1.2.3", str(40000 + i), "443", "6", str(i % 5), "10", str(T0 + i), "ACCEPT")
            for i in range(50)]  # fmt: skip
    # the server's side of some of them (the destination is the client), and an internal server
    answers = [
        _record("52.1.2.3", "10.0.0.5", "443", str(40000 + i), "6", "3", str(900 + i), str(T0 + i), "ACCEPT")
        for i in range(0, 50, 5)
    ]
    served = [_record("8.8.4.4", "10.0.0.9", "5353", "80", "6", "4", "70", str(T0), "ACCEPT")] * 2
    beacon = [_beacon_record()] * 4
    scans = [_record("45.0.0.1", "10.0.0.5", "5555", "22", "6", "1", "40", str(T0), "REJECT")] * 3
    fast = [_write(tmp_path / "a.log", good + answers + beacon + scans), _write(tmp_path / "b.log", good[::2] + served)]
    odd = _write(
        tmp_path / "c.log", [_record("10.0.0.5", "52.1.2.3", "40000", "0443", "6", "2", "7", str(T0), "ACCEPT")]
    )
    header_crlf = tmp_path / "d.log"
    header_crlf.write_text(HEADER + "\r\n" + _beacon_record() + "\n")
    # byte sums past 2^63 (18-digit sizes, summed): exported as 128-bit integers, not 64-bit ones
    huge = _record("10.0.0.6", "52.1.2.4", "40000", "443", "6", "9", "999999999999999999", str(T0), "ACCEPT")
    wide = _write(tmp_path / "e.log", [huge] * 12)
    for files in (fast, [*fast, odd], [*fast, header_crlf], [*fast, wide], [wide, odd]):
        native_tables, _ = _tables(files, "native")
        assert native_tables == _tables(files, "duckdb")[0]
        assert native_tables[0]["header"] == len(files)
        assert native_tables[0].get("inbound_rejected") == (3 if fast[0] in files else None)
        assert native_tables[1][1:]  # conversations were found


def test_beacon_targets_that_arrive_late(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The indicators may still be loading when the native reader starts: it inflates ahead (a
    # bounded number of pieces), then folds them with the beacon targets once they are there.
    monkeypatch.setattr(native, "CHUNK", 64)
    monkeypatch.setattr(native, "READ", 64)
    monkeypatch.setattr(native, "EARLY_CHUNKS", 5)
    records = [_beacon_record()] * 30 + [
        _record("10.0.0.5", "52.1.2.3", str(40000 + i), "443", "6", "2", "10", str(T0 + i), "ACCEPT") for i in range(30)
    ]
    (tmp_path / "a.log.gz").write_bytes(gzip.compress((HEADER + "\n" + "\n".join(records) + "\n").encode()))
    files = [tmp_path / "a.log.gz", _write(tmp_path / "b.log", records[::3])]
    late: Future[Any] = Future()
    threading.Timer(0.3, late.set_result, [pa.array(BEACONS)]).start()
    con = duckdb.connect()
    scan = run_scan(con, files, FlowSettings(threads=2, scan_probe_packets=3), INTERNAL, late)
    con.execute(scan.edges_sql)
    starts = con.execute("SELECT sum(len(starts)) FROM conv").fetchall()
    con.close()
    assert starts == [(40,)]  # 30 + 10 beacon records, each a start
    assert _tables(files, "native") == _tables(files, "duckdb")


def test_failed_indicators_stop_the_native_reader(tmp_path: Path) -> None:
    failed: Future[Any] = Future()
    failed.set_exception(IndicatorFileError("cannot read indicators", file="x.csv"))
    with pytest.raises(IndicatorFileError):
        run_scan(duckdb.connect(), [_write(tmp_path / "a.log", [_beacon_record()])], FlowSettings(), INTERNAL, failed)


def test_conversations_of_several_scanners_equal_those_of_their_merge() -> None:
    assert native._fastscan is not None
    nets = b"\x00\x00\x00\x0a\x00\x00\x00\xff"  # 10.0.0.0/8 (network, mask; little-endian words)
    beacons = native.beacon_set([BEACON])
    lines = [
        _record(f"10.0.0.{i % 4}", f"52.1.2.{i % 3}", str(40000 + i), "443", "6", "2", str(i), str(T0 + i), "ACCEPT")
        for i in range(40)
    ] + [_record("52.1.2.1", f"10.0.0.{i % 4}", "443", str(40000 + i), "6", "9", "99", str(T0), "ACCEPT")
         for i in range(20)] + [_beacon_record()] * 3  # fmt: skip

    def scanner(part: list[str]) -> Any:
        assert native._fastscan is not None
        one = native._fastscan.Scanner(nets, beacons, 3, 100, 100)
        one.feed(("first line\n" + "\n".join(part) + "\n").encode())
        one.finish()
        return one

    def rows(table: Any) -> list[Any]:
        return _normal([tuple(r.values()) for r in table.to_pylist()])

    parts = [scanner(lines[0::3]), scanner(lines[1::3]), scanner(lines[2::3])]
    apart = conversation_tables(parts)
    merged = scanner([])
    for part in parts:
        merged.merge(part)
    together = conversation_tables([merged])
    assert rows(apart.conv) == rows(together.conv) and rows(apart.addresses) == rows(together.addresses)
    assert sum(apart.conv.column("flows").to_pylist()) == len(lines)
    assert sorted(apart.addresses.column("a").to_pylist()) == sorted(
        {"10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5", "52.1.2.0", "52.1.2.1", "52.1.2.2", BEACON}
    )


def test_the_scanner_accounts_for_every_line() -> None:
    assert native._fastscan is not None
    scanner = native._fastscan.Scanner(b"", b"", 3, 10, 10)
    good = _record("52.1.2.3", "10.0.0.5", "443", "40000", "6", "5", "10", "1764400000", "ACCEPT").encode()
    data = b"first line\n" + b"\n".join([good, b"junk", good + b" ", good, b"\xff" * 3000, good]) + b"\n" + good
    leftover = b"".join(scanner.feed(data[i : i + 7]) for i in range(0, len(data), 7)) + scanner.finish()
    assert leftover.split(b"\n") == [b"first line", b"junk", good + b" ", b"\xff" * 3000, b""]
    assert scanner.counts() == (1, 0)  # four good records, one group
    groups, starts = arrow_tables(scanner)
    assert groups.column("flows").to_pylist() == [4] and groups.column("src").to_pylist() == ["52.1.2.3"]
    assert groups.column("port").to_pylist() == [443] and groups.column("from_client").to_pylist() == [0]
    assert starts.num_rows == 0 and scanner.rejected() is None


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), splits=st.lists(st.integers(1, 500), max_size=10))
def test_the_scanner_survives_any_bytes(data: bytes, splits: list[int]) -> None:
    assert native._fastscan is not None
    scanner = native._fastscan.Scanner(b"\x00\x00\x00\x0a\x00\x00\x00\xff", b"\x01\x02\x03\x04", 3, 4, 4)
    out, at = [], 0
    for size in splits:
        out.append(scanner.feed(data[at : at + size]))
        at += size
    out.append(scanner.feed(data[at:]))
    out.append(scanner.finish())
    groups, _ = arrow_tables(scanner)
    folded = sum(groups.column("flows").to_pylist()) + (scanner.rejected() or [0])[0]
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    assert b"".join(out).count(b"\n") + folded == lines


def test_the_duckdb_reader_alone_gives_the_same_report(tmp_path: Path) -> None:
    planted = write_flow_logs(tmp_path / "logs", seed=11)
    indicators = tmp_path / "ind.csv"
    write_indicators(indicators, planted, seed=11)
    reports = [
        analyze_flows([tmp_path / "logs"], indicators=indicators, settings=FlowSettings(reader=reader))
        for reader in ("auto", "duckdb")
    ]
    for report in reports:
        report.stats.seconds = 0.0
    assert reports[0] == reports[1]
    assert reports[0].findings
