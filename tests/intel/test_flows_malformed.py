"""Hostile and broken flow files: every bad line is counted by reason, nothing stops the run."""

from __future__ import annotations

import gzip
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyguard.intel.flows import FlowReport, analyze_flows
from honeyguard.intel.flows.report import MalformedCounts
from tests.intel.flowgen import HEADER

GOOD = "2 123456789012 eni-0a1 10.0.0.5 52.1.2.3 40001 443 6 10 1200 1764400000 1764400060 ACCEPT OK"
LINES = {
    "ok": [
        GOOD,
        "2 123456789012 eni-0a1 2600:1f18:abcd::5 2606:4700::1 40002 443 6 10 1200 1764400000 1764400060 ACCEPT OK",
        "2 123456789012 eni-0a1 10.0.0.5 52.1.2.3 0 0 1 2 168 1764400000 1764400060 ACCEPT OK",
    ],  # ICMP
    "wrong_field_count": [GOOD + " EXTRA", GOOD.rsplit(" ", 1)[0], "garbage", '"quoted ' + GOOD, GOOD + " a b c d e f"],
    "nodata": ["2 123456789012 eni-0a1 - - - - - - - 1764400000 1764400060 - NODATA"],
    "skipdata": ["2 123456789012 eni-0a1 - - - - - - - 1764400000 1764400060 - SKIPDATA"] * 2,
    "missing_field": [GOOD.replace(" 1200 ", " - "), GOOD.replace(" 52.1.2.3 ", " - ")],
    "bad_value": [
        GOOD.replace("40001", "abc"),
        GOOD.replace("ACCEPT", "MAYBE"),
        GOOD.replace(" 1200 ", " 99999999999999999999999 "),
        GOOD.replace("52.1.2.3", "999.1.2.3"),
        GOOD.replace(" OK", " WHATEVER"),
        # addresses are validated after the scan: a rejected record from a non-address,
        # and an IPv6 record towards one (not an IPv6 record then)
        GOOD.replace("10.0.0.5", "nonsense").replace("ACCEPT", "REJECT"),
        GOOD.replace("10.0.0.5", "2600:1f18:abcd::6").replace("52.1.2.3", "zz"),
    ],
    "unsupported_version": ["3" + GOOD[1:]],
}


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    return path


def _counts(report: FlowReport) -> dict[str, int]:
    counts = {name: getattr(report.malformed, name) for name in MalformedCounts.__struct_fields__}
    counts["ok"] = report.stats.records
    return {k: v for k, v in counts.items() if v}


def test_each_kind_of_bad_line_is_counted(tmp_path: Path) -> None:
    lines = [line for group in LINES.values() for line in group]
    report = analyze_flows([_write(tmp_path / "mixed.log", lines)])
    assert _counts(report) == {k: len(v) for k, v in LINES.items()}
    assert report.stats.ipv6_records == 1 and report.stats.header_lines == 1


def test_unreadable_files_are_skipped_and_counted(tmp_path: Path) -> None:
    _write(tmp_path / "good.log", [GOOD] * 3)
    (tmp_path / "broken.log.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip" * 10)
    truncated = gzip.compress((HEADER + "\n" + (GOOD + "\n") * 5000).encode())
    (tmp_path / "truncated.log.gz").write_bytes(truncated[: len(truncated) // 2])
    (tmp_path / "empty.log").write_bytes(b"")
    (tmp_path / ".hidden.log").write_text("ignored: hidden files are not flow logs\n")
    report = analyze_flows([tmp_path])
    assert report.stats.records == 3
    assert report.malformed.unreadable_files == 2
    assert sorted(p.split(":")[0].rsplit("/", 1)[-1] for p in report.problems) == ["broken.log.gz", "truncated.log.gz"]


def test_binary_and_oversized_lines_never_crash(tmp_path: Path) -> None:
    junk = tmp_path / "junk.log"
    junk.write_bytes(
        HEADER.encode()
        + b"\n"
        + GOOD.encode()
        + b"\n"
        + bytes(range(256)) * 4
        + b"\n"
        + b"\xff\xfe\xc3("
        + GOOD.encode()[4:]
        + b"\n"
        + b"x" * 200_000
        + b"\n"
        + GOOD.encode()
        + b"\n"
    )
    report = analyze_flows([junk])
    assert report.stats.records == 2  # the two good lines survive whatever sits between them


def test_a_file_of_only_headers_and_blank_lines(tmp_path: Path) -> None:
    report = analyze_flows([_write(tmp_path / "h.log", ["", HEADER, "", ""])])
    assert report.stats.records == 0 and report.stats.header_lines == 2
    assert report.findings == [] and _counts(report) == {}


TOKEN = st.one_of(
    st.sampled_from(
        [
            "2",
            "-",
            "OK",
            "NODATA",
            "ACCEPT",
            "REJECT",
            "10.0.0.1",
            "52.1.1.1",
            "::1",
            "443",
            "6",
            "1764400000",
            "version",
            '"',
            "'",
        ]
    ),
    st.text(alphabet="0123456789abcdef.:-x", min_size=1, max_size=12),
)
LINE = st.lists(TOKEN, min_size=1, max_size=18).map(" ".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, min_size=1, max_size=30))
def test_any_line_lands_in_exactly_one_count(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "fuzz.log"
    path.write_text("\n".join(lines) + "\n")
    report = analyze_flows([path])
    total = (
        report.stats.records
        + report.stats.header_lines
        + sum(
            getattr(report.malformed, name)
            for name in MalformedCounts.__struct_fields__
            if name not in ("unreadable_files", "indicator_rows")
        )
    )
    assert total == len(lines)
