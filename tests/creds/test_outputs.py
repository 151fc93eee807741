"""Outputs: SARIF valid against the official 2.1.0 schema, JSON shape, baseline suppression."""

from __future__ import annotations

import json
import random
from pathlib import Path

import jsonschema
import msgspec

from honeyguard.creds import Scanner, ScanOptions
from honeyguard.creds.baseline import load_baseline, suppress, write_baseline
from honeyguard.creds.report import RULES, to_json, to_sarif
from tests.creds.corpus import build
from tests.creds.keys import account, key_id, secret

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


def _findings(root: Path, **options: bool) -> list:  # type: ignore[type-arg]
    return [h.finding for h in Scanner(ScanOptions(**options)).scan_paths([str(root)]).hits]


def test_sarif_validates_against_the_schema(tmp_path: Path) -> None:
    build(tmp_path / "corpus")
    findings = _findings(tmp_path / "corpus", include_examples=True, include_resource_ids=True)
    document = json.loads(msgspec.json.encode(to_sarif(findings, "1.2.3")))
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(document), key=str)
    assert errors == []
    run = document["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == list(RULES)
    assert len(run["results"]) == len(findings)
    for result, finding in zip(run["results"], findings, strict=True):
        assert result["partialFingerprints"]["awsKeyIdFile/v1"] == finding.fingerprint
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == finding.line
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["HG-CREDS-001"] == "error" and levels["HG-CREDS-003"] == "note"


def test_schema_rejects_a_broken_document() -> None:
    """The validator really checks: a result without a message is refused."""
    schema = json.loads(SCHEMA.read_text())
    broken = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "a"}]}]}
    assert list(jsonschema.Draft4Validator(schema).iter_errors(broken))


def test_json_is_one_object_with_findings(tmp_path: Path) -> None:
    corpus = build(tmp_path)
    document = json.loads(to_json(_findings(tmp_path)))
    assert list(document) == ["findings"]
    assert len(document["findings"]) == len(corpus.planted)
    assert {"file", "line", "column", "commit", "key_id", "secret_paired", "account_id", "verdict",
            "excerpt"} <= set(document["findings"][0])


def test_baseline_suppresses_known_and_keeps_new(tmp_path: Path) -> None:
    root = tmp_path / "src"
    corpus = build(root)
    known = write_baseline(tmp_path / "baseline.json", _findings(root))
    assert len(load_baseline(tmp_path / "baseline.json").entries) == len(corpus.planted)
    # the same keys moved to other lines are still known
    env = root / "app" / ".env"
    env.write_text("# moved\n\n" + env.read_text())
    rng = random.Random(99)
    fresh = key_id(rng, account(rng))
    (root / "new.env").write_text(f"AWS_ACCESS_KEY_ID={fresh}\nAWS_SECRET_ACCESS_KEY={secret(rng)}\n")
    kept, suppressed = suppress(_findings(root), known)
    assert [f.key_id for f in kept] == [fresh]
    assert suppressed == len(corpus.planted)
