"""Flow-log analytics on generated VPC Flow Logs: what was planted is found, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from honeyguard.intel.flows import FlowReport, FlowSettings, analyze_flows
from honeyguard.model import DownloadEvidence, Finding, InfectedEvidence, ScannerEvidence
from tests.intel.flowgen import V6_CDN, V6_HOST, Planted, write_flow_logs, write_indicators

V6_RANGE = "2600:1f18:abcd::/48"
Scene = tuple[Planted, Path, Path, dict[str, int]]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    root = tmp_path_factory.mktemp("flows")
    planted = write_flow_logs(root / "logs", seed=11)
    bad_rows = write_indicators(root / "indicators.csv", planted, seed=11)
    return planted, root / "logs", root / "indicators.csv", bad_rows


@pytest.fixture(scope="module")
def report(scene: Scene) -> FlowReport:
    _planted, logs, indicators, _ = scene
    return analyze_flows([logs], indicators=indicators, settings=FlowSettings(internal_cidrs=[V6_RANGE]))


def _by(report: FlowReport, kind: str) -> dict[str, Finding]:
    return {f.subject: f for f in report.findings if f.kind == kind}


def test_exactly_the_planted_findings(report: FlowReport, scene: Scene) -> None:
    planted = scene[0]
    expected = {("infected-instance", h) for h in planted.beaconing}
    expected |= {
        ("infected-instance", planted.download_host),
        ("infected-instance", planted.range_host),
        ("outbound-scanner", planted.scanner),
        ("malware-download", planted.download_host),
    }
    assert {(f.kind, f.subject) for f in report.findings} == expected


def test_beaconing_raises_severity(report: FlowReport, scene: Scene) -> None:
    planted = scene[0]
    infected = _by(report, "infected-instance")
    for host in planted.beaconing:
        finding = infected[host]
        assert isinstance(finding.evidence, InfectedEvidence)
        assert finding.indicators == [planted.c2]
        assert finding.evidence.beaconing and finding.evidence.beacon_peer == planted.c2
        assert finding.evidence.beacon_interval_s is not None
        assert abs(finding.evidence.beacon_interval_s - planted.beacon_period) < 10
        assert finding.severity == "critical"  # confidence 90 -> high, beaconing -> critical
    downloader = infected[planted.download_host]
    assert isinstance(downloader.evidence, InfectedEvidence)
    assert not downloader.evidence.beaconing and downloader.severity == "high"
    in_range = infected[planted.range_host]
    assert in_range.indicators == [planted.bad_range]  # matched through the CIDR indicator
    assert in_range.severity == "medium"  # confidence 60 < 70


def test_scanner_and_download_evidence(report: FlowReport, scene: Scene) -> None:
    planted = scene[0]
    scanner = _by(report, "outbound-scanner")[planted.scanner]
    assert isinstance(scanner.evidence, ScannerEvidence)
    assert scanner.evidence.port == planted.scan_port
    assert scanner.evidence.window_targets == planted.scan_targets == scanner.evidence.total_targets
    download = _by(report, "malware-download")[planted.download_host]
    assert isinstance(download.evidence, DownloadEvidence)
    assert download.evidence.bytes == planted.download_bytes
    assert download.indicators == [planted.malware_host]
    assert download.first_seen <= download.last_seen


def test_blast_radius_of_a_popular_address(report: FlowReport, scene: Scene) -> None:
    planted = scene[0]
    radius = {b.indicator: b for b in report.blast_radius}
    assert set(radius) == {planted.popular, planted.c2, planted.malware_host, planted.bad_range}
    assert radius[planted.popular].internal_hosts == len(planted.hosts_using[planted.popular]) >= 300
    assert report.blast_radius[0].indicator == planted.popular  # widest first
    assert radius[planted.c2].internal_hosts == len(planted.beaconing)
    assert radius[planted.malware_host].internal_hosts == 1


def test_candidate_c2(report: FlowReport, scene: Scene) -> None:
    planted = scene[0]
    assert [(c.value, c.infected_peers, c.other_hosts) for c in report.candidate_c2] == [
        (planted.second_stage, len(planted.second_stage_peers), 0)
    ]
    assert report.candidate_c2[0].hosts == sorted(planted.second_stage_peers)


def test_counts(report: FlowReport, scene: Scene) -> None:
    planted, _, _, bad_rows = scene
    assert report.stats.records == planted.records
    assert report.stats.files == 4 and report.stats.header_lines == 4  # plain, gzip and a subfolder
    assert report.stats.ipv6_records == planted.ipv6_records
    assert report.malformed.indicator_rows == bad_rows["malformed"]
    assert report.stats.indicator_rows_other_types == bad_rows["other_types"]
    assert len(report.problems) == bad_rows["malformed"]
    assert all(":" in p and "indicators.csv:" in p for p in report.problems)


def test_without_indicators_only_behaviour_is_found(scene: Scene) -> None:
    planted, logs, _, _ = scene
    report = analyze_flows([logs])
    assert [(f.kind, f.subject) for f in report.findings] == [("outbound-scanner", planted.scanner)]
    assert report.blast_radius == [] and report.candidate_c2 == []


def test_thresholds_decide(scene: Scene) -> None:
    planted, logs, indicators, _ = scene
    strict = FlowSettings(
        scan_min_targets=planted.scan_targets + 1,
        download_min_bytes=planted.download_bytes + 1,
        beacon_max_cv=0.0001,
        internal_cidrs=[V6_RANGE],
    )
    report = analyze_flows([logs], indicators=indicators, settings=strict)
    kinds = {f.kind for f in report.findings}
    assert kinds == {"infected-instance"}
    assert all(isinstance(f.evidence, InfectedEvidence) and not f.evidence.beaconing for f in report.findings)


def test_internal_ipv6_range_is_configurable(scene: Scene, tmp_path: Path) -> None:
    _planted, logs, _, _ = scene
    listed = tmp_path / "v6.csv"
    listed.write_text(f"value,type,role,confidence\n{V6_CDN.upper()},ip,c2,95\n")  # any IPv6 spelling
    outside = analyze_flows([logs], indicators=listed)
    inside = analyze_flows([logs], indicators=listed, settings=FlowSettings(internal_cidrs=[V6_RANGE]))
    assert outside.stats.ipv6_records == inside.stats.ipv6_records > 0
    assert [f.subject for f in outside.findings if f.kind == "infected-instance"] == []
    assert [f.subject for f in inside.findings if f.kind == "infected-instance"] == [V6_HOST]
    assert [b.indicator for b in inside.blast_radius] == [V6_CDN]
