"""CloudTrail ingest: honeytoken uses found, linked to the harvest, robust to malformed files."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.creds.honeytoken_intel import ingest
from honeyguard.creds.honeytokens import HoneytokenIssuer
from honeyguard.intel.service import IntelService
from honeyguard.model.finding import HoneytokenEvidence
from honeyguard.store.creds import CredsStore
from honeyguard.store.intel import IntelStore
from honeyguard.store.state import StateStore
from tests.creds.cloudtrail_files import record, write

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _stores(tmp_path: Path) -> tuple[CredsStore, IntelStore]:
    state = StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}")
    return CredsStore(state), IntelStore(state)


def _served(creds: CredsStore, ip: str, path: str = "/.env") -> str:
    issuer = HoneytokenIssuer(sensor="edge-1", entropy=SeededEntropy(int(ip.replace(".", ""))), clock=FakeClock(T0))
    served = issuer.content_for(path, session="0190f0c0-0000-7000-8000-000000000001", src_ip=ip)
    assert served is not None
    creds.record_issued([served.issued])
    return served.issued.key_id


def test_uses_are_linked_to_harvest_with_indicators_and_finding(tmp_path: Path) -> None:
    creds, intel = _stores(tmp_path)
    key = _served(creds, "203.0.113.7")
    other = _served(creds, "198.51.100.20", "/.aws/credentials")  # served, never used
    logs = tmp_path / "logs"
    write(logs, "a", [
        record(key, "192.0.2.44", "GetCallerIdentity", T0 + timedelta(hours=2)),
        record(key, "192.0.2.44", "ListBuckets", T0 + timedelta(hours=2, minutes=1), source="s3.amazonaws.com",
               error="AccessDenied"),
        record("AKIAQYLPMN5HHHFPZAM2", "192.0.2.99", "ListUsers", T0, source="iam.amazonaws.com"),
    ])
    write(logs, "b", [record(key, "192.0.2.45", "RunInstances", T0 + timedelta(hours=3),
                             source="ec2.amazonaws.com", agent="Boto3/1.34.0 md/Botocore#1.34.0")])
    report = ingest([logs], creds_store=creds, intel_store=intel)

    assert (report.stats.files, report.stats.records, report.stats.matched) == (2, 4, 3)
    assert not report.stats.problems
    (linked,) = report.linked
    assert linked.use.key_id == key and linked.harvest is not None and linked.harvest.src_ip == "203.0.113.7"
    assert sorted((i.value, i.role) for i in report.indicators) == [
        ("192.0.2.44", "key-user"), ("192.0.2.45", "key-user"), ("203.0.113.7", "key-harvester")]
    (finding,) = intel.findings(kind="honeytoken-used")
    assert finding.subject == key and finding.severity == "high"
    assert finding.indicators == ["203.0.113.7", "192.0.2.44", "192.0.2.45"]
    evidence = finding.evidence
    assert isinstance(evidence, HoneytokenEvidence)
    assert (evidence.harvester_ip, evidence.sensor, evidence.path) == ("203.0.113.7", "edge-1", "/.env")
    assert evidence.event_names == ["ec2:RunInstances", "s3:ListBuckets", "sts:GetCallerIdentity"]
    assert evidence.errors == ["AccessDenied"] and evidence.calls == 3
    assert "Boto3/1.34.0 md/Botocore#1.34.0" in evidence.user_agents
    assert finding.first_seen == T0 and finding.last_seen == T0 + timedelta(hours=3)
    assert other not in {f.subject for f in intel.findings()}

    # the indicators persist: a fresh IntelService rebuilt from the store holds both roles
    service = IntelService(intel, FakeClock(T0 + timedelta(hours=4)))
    service.load([])
    roles = {i.value: i.roles for i in service.indicators()}
    assert roles["203.0.113.7"] == ["key-harvester"] and roles["192.0.2.45"] == ["key-user"]

    # a second ingest of a later file merges into the same finding
    write(logs, "c", [record(key, "192.0.2.46", "CreateUser", T0 + timedelta(days=1), source="iam.amazonaws.com")])
    ingest([logs / "AWSLogs/418295730164/CloudTrail/us-east-1/2026/03/01/"
            "418295730164_CloudTrail_us-east-1_c.json.gz"], creds_store=creds, intel_store=intel)
    (merged,) = intel.findings(kind="honeytoken-used")
    assert merged.id == finding.id and "192.0.2.46" in merged.indicators and "192.0.2.44" in merged.indicators
    assert isinstance(merged.evidence, HoneytokenEvidence) and merged.evidence.calls == 4


def test_decoy_account_keys_match_without_a_harvest_record(tmp_path: Path) -> None:
    creds, intel = _stores(tmp_path)
    unknown = HoneytokenIssuer(sensor="x", entropy=SeededEntropy(5)).content_for("/.env", session="s", src_ip="1.1.1.1")
    assert unknown is not None  # served by a sensor whose events we never saw
    logs = tmp_path / "logs"
    write(logs, "a", [record(unknown.issued.key_id, "192.0.2.50", "GetCallerIdentity", T0)])
    assert not ingest([logs], creds_store=creds, intel_store=intel).linked
    live = IntelService(intel, FakeClock(T0))
    report = ingest([logs], creds_store=creds, intel_store=intel, decoy_accounts=["418295730164"],
                    intel_service=live)
    (linked,) = report.linked
    assert linked.harvest is None and [i.role for i in report.indicators] == ["key-user"]
    assert [(i.value, i.roles) for i in live.take_changed()] == [("192.0.2.50", ["key-user"])]


def test_malformed_files_are_reported_not_fatal(tmp_path: Path) -> None:
    creds, intel = _stores(tmp_path)
    key = _served(creds, "203.0.113.8")
    logs = tmp_path / "logs"
    good = write(logs, "good", [record(key, "192.0.2.60", "GetCallerIdentity", T0),
                                {"eventTime": "not a time", "userIdentity": {"accessKeyId": key}},
                                "a string, not a record"])
    folder = good.parent
    (folder / "garbage.json.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (folder / "truncated.json.gz").write_bytes(gzip.compress(b'{"Records": [' + b"{}," * 1000)[:60])
    (folder / "digest.json.gz").write_bytes(gzip.compress(json.dumps({"digestStartTime": "x"}).encode()))
    (folder / "plain.json").write_text(json.dumps({"Records": [record(key, "192.0.2.61", "ListUsers", T0)]}))
    (folder / "text.json").write_text("{not json")
    (folder / "notes.txt").write_text("not a log: ignored")
    report = ingest([logs], creds_store=creds, intel_store=intel)
    assert report.stats.files == 6
    problems = {Path(p.file).name: p.message for p in report.stats.problems}
    assert set(problems) == {"garbage.json.gz", "truncated.json.gz", "digest.json.gz", "text.json", good.name}
    assert "2 malformed record(s) skipped" in problems[good.name]
    (linked,) = report.linked
    assert sorted(linked.use.ips) == ["192.0.2.60", "192.0.2.61"]


def test_cli_ingest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    creds, _ = _stores(data)  # the CLI's state store: data_dir/state.sqlite
    key = _served(creds, "203.0.113.9")
    logs = tmp_path / "logs"
    write(logs, "a", [record(key, "192.0.2.70", "GetCallerIdentity", T0)])
    (logs / "broken.json.gz").write_bytes(b"junk")
    config = tmp_path / "hg.yaml"
    config.write_text(f"data_dir: {data}\n")
    done = subprocess.run([sys.executable, "-m", "honeyguard.cli.main", "cloudtrail", "ingest", str(logs),
                           "--format", "json", "--config", str(config)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    (finding,) = out["findings"]
    assert finding["subject"] == key and finding["evidence"]["harvester_ip"] == "203.0.113.9"
    assert "broken.json.gz" in done.stderr and "1 keys" in done.stderr
    missing = subprocess.run([sys.executable, "-m", "honeyguard.cli.main", "cloudtrail", "ingest",
                              str(tmp_path / "nope"), "--config", str(config)], capture_output=True, text=True,
                             timeout=120, check=False)
    assert missing.returncode == 2 and "no such file" in missing.stderr
