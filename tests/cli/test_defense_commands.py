"""The intel, decisions, bouncer and export commands, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tool


@pytest.fixture
def hg(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = tmp_path / "honeyguard.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nserver: {{port: 1}}\n")  # port 1: no collector there
    env = {**os.environ, "HONEYGUARD_CONFIG": str(config)}
    exe = Path(sys.executable).with_name("honeyguard")

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=tmp_path,
                              check=False, timeout=120)
        if ok:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    return run


def test_manual_decisions_explain_and_export(hg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hg("decisions", "add", "45.142.120.7", "--duration", "2h", "--reason", "seen exploiting Citrix")
    hg("decisions", "add", "evil-c2.example", "--type", "domain", "--direction", "egress")
    listed = [json.loads(line) for line in hg("decisions", "list", "--json").stdout.splitlines()]
    assert {(d["value"], d["origin"]) for d in listed} == {("45.142.120.7", "manual"), ("evil-c2.example", "manual")}
    explained = hg("decisions", "explain", "45.142.120.7").stdout
    assert "seen exploiting Citrix" in explained and "DROP ingress" in explained
    nft = tmp_path / "hg.nft"
    hg("export", "--format", "nftables", "--out", str(nft))
    checked = subprocess.run([tool("nft"), "-c", "-f", str(nft)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "45.142.120.7/32" in nft.read_text()
    hg("export", "--all", str(tmp_path / "all"))
    assert (tmp_path / "all" / "misp-feed" / "manifest.json").exists()
    assert "evil-c2.example CNAME ." in (tmp_path / "all" / "honeyguard.rpz.zone").read_text()
    hg("decisions", "delete", "45.142.120.7")
    assert "45.142.120.7" not in hg("export", "--format", "txt").stdout


def test_mistakes_are_one_line_and_exit_2(hg) -> None:  # type: ignore[no-untyped-def]
    for args in (["decisions", "add", "1.2.3.x"], ["decisions", "explain", "9.9.9.9"],
                 ["export", "--format", "pf"], ["export"], ["intel", "import", "missing.csv"],
                 ["decisions", "add", "1.2.3.4", "--duration", "forever"]):
        done = hg(*args, ok=False)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_intel_import_list_explain_allow(hg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    feed = tmp_path / "feed.csv"
    feed.write_text("value,type,role,confidence\n45.142.120.7,ip,scanner,70\nbad,ip,c2,10\n"
                    "evil-c2.example,domain,c2,90\n")
    done = hg("intel", "import", str(feed))
    assert "imported 2 indicators" in done.stdout and f"{feed}:3:" in done.stderr
    listed = [json.loads(line) for line in hg("intel", "list", "--json").stdout.splitlines()]
    assert [(i["value"], i["confidence"]) for i in listed] == [("evil-c2.example", 90), ("45.142.120.7", 70)]
    explained = hg("intel", "explain", "evil-c2.example").stdout
    assert "feed:feed.csv" in explained and "half-life 60 d" in explained
    hg("intel", "allow", "45.142.120.7", "--reason", "partner scanner")
    rows = [json.loads(line) for line in hg("intel", "list", "--json").stdout.splitlines()]
    states = {row["value"]: row["state"] for row in rows}
    assert states["45.142.120.7"] == "allowlisted"


def test_bouncer_keys(hg) -> None:  # type: ignore[no-untyped-def]
    key = hg("bouncer", "add", "fw-1").stdout.strip()
    assert len(key) == 48 and all(c in "0123456789abcdef" for c in key)
    assert "fw-1" in hg("bouncer", "list").stdout
    assert hg("bouncer", "add", "fw-1", ok=False).returncode == 2
