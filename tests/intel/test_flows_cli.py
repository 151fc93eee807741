"""``honeyguard flows analyze`` as a user runs it: the --json shape, tables, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.intel.flowgen import Planted, write_flow_logs, write_indicators


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Planted, Path, Path]:
    root = tmp_path_factory.mktemp("flows-cli")
    planted = write_flow_logs(root / "logs", seed=5, files=3)
    write_indicators(root / "indicators.csv", planted, seed=5, noise=200)
    return planted, root / "logs", root / "indicators.csv"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "honeyguard.cli.main", "flows", "analyze", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "300"},
    )  # wide enough that no address wraps


def test_json_is_one_object_of_the_documented_shape(scene: tuple[Planted, Path, Path]) -> None:
    planted, logs, indicators = scene
    result = _run("--json", "--indicators", str(indicators), "--internal", "2600:1f18:abcd::/48", str(logs))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # the whole of stdout is one JSON object
    assert {"findings", "blast_radius", "candidate_c2", "malformed"} <= set(report)
    for finding in report["findings"]:
        assert finding["kind"] in ("infected-instance", "outbound-scanner", "malware-download")
        assert isinstance(finding["subject"], str) and isinstance(finding["indicators"], list)
        assert finding["severity"] in ("low", "medium", "high", "critical")
        assert isinstance(finding["evidence"], dict) and finding["evidence"]["kind"] == finding["kind"]
    subjects = {(f["kind"], f["subject"]) for f in report["findings"]}
    assert ("outbound-scanner", planted.scanner) in subjects
    assert ("malware-download", planted.download_host) in subjects
    for entry in report["blast_radius"]:
        assert isinstance(entry["indicator"], str)
        assert isinstance(entry["internal_hosts"], int) and isinstance(entry["flows"], int)
    assert report["blast_radius"][0]["indicator"] == planted.popular
    assert report["candidate_c2"] == [{**report["candidate_c2"][0], "value": planted.second_stage, "infected_peers": 2}]
    assert all(isinstance(v, int) for v in report["malformed"].values())
    assert report["malformed"]["indicator_rows"] == 6


def test_tables_without_json(scene: tuple[Planted, Path, Path]) -> None:
    planted, logs, indicators = scene
    result = _run("--indicators", str(indicators), str(logs))
    assert result.returncode == 0, result.stderr
    assert "findings" in result.stdout and "blast radius" in result.stdout
    assert planted.scanner in result.stdout and planted.popular in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/flows"], "no such file or folder"),
        (["--internal", "10.0.0.0/99", "{logs}"], "not a CIDR"),
        (["--indicators", "{logs}/../missing.csv", "{logs}"], "cannot read indicators"),
        (["--scan-min-targets", "0", "{logs}"], "invalid option"),
        (["--memory-limit", "lots", "{logs}"], "invalid option"),
    ],
)
def test_user_mistakes_are_one_line(scene: tuple[Planted, Path, Path], args: list[str], message: str) -> None:
    logs = scene[1]
    result = _run(*(a.replace("{logs}", str(logs)) for a in args))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_store_keeps_findings_and_blast_radius_for_the_guardrails(
    scene: tuple[Planted, Path, Path], tmp_path: Path
) -> None:
    from honeyguard.store.intel import IntelStore
    from honeyguard.store.state import StateStore

    planted, logs, indicators = scene
    config = tmp_path / "hg.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    result = _run("--indicators", str(indicators), "--store", "--config", str(config), str(logs))
    assert result.returncode == 0, result.stderr
    assert "stored" in result.stderr
    intel = IntelStore(StateStore(f"sqlite:///{tmp_path / 'data' / 'state.sqlite'}"))
    kinds = {(f.kind, f.subject) for f in intel.findings()}
    assert ("outbound-scanner", planted.scanner) in kinds
    assert intel.blast_radius()[planted.popular] == 400
