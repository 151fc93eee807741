"""End to end on loopback: curl fetches /.env from a running sensor and gets a honeytoken; the
SSH shell's ~/.aws/credentials holds another; a CloudTrail file then shows the first key used from
another address. Both addresses become indicators and one Finding links them."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

from honeyguard.clock import FakeClock
from honeyguard.config import LoginCredential, SshSettings
from honeyguard.creds import Scanner
from honeyguard.creds.honeytoken_intel import ingest
from honeyguard.creds.honeytokens import IOC_TYPE, harvests_from_events
from honeyguard.intel.service import IntelService
from honeyguard.model.finding import HoneytokenEvidence
from honeyguard.store.creds import CredsStore
from honeyguard.store.intel import IntelStore
from honeyguard.store.state import StateStore
from tests.conftest import tool
from tests.creds.cloudtrail_files import record, write
from tests.sensor.ssh_keys import fast_host_keys  # noqa: F401 - autouse fixture: quick host keys
from tests.sensor.wire_helpers import RawClient

_KEY = re.compile(r"AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})")


def _curl(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("curl"), "-s", "-i", "--max-time", "30", url], capture_output=True, text=True,
                          timeout=60, check=False)


def _served_keys(sensor) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """key id -> event id, from the sensor's events."""
    return {i.value: e.id for e in sensor.sink.events() for i in e.iocs if i.type == IOC_TYPE}


def test_harvest_then_use_links_both_addresses(make_sensor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], honeytokens=True)
    url = f"http://127.0.0.1:{sensor.port('http')}"
    first, second = _curl(f"{url}/.env"), _curl(f"{url}/.env")
    assert first.stdout.startswith("HTTP/1.1 200 OK"), first.stdout[:200]
    key, other = _KEY.search(first.stdout), _KEY.search(second.stdout)
    assert key and other and key.group(1) != other.group(1)  # one key per response
    key_id = key.group(1)
    events = sensor.sink.wait_for(lambda evs: len([i for e in evs for i in e.iocs if i.type == IOC_TYPE]) >= 2)
    served = _served_keys(sensor)
    (fetch,) = [e for e in events if e.id == served[key_id]]
    assert fetch.kind == "http.request" and fetch.body.target == "/.env" and fetch.src_ip == "127.0.0.1"

    # what a scanner would make of the page: a live-looking pair
    (tmp_path / "fetched.env").write_text(first.stdout.split("\n\n", 1)[1])  # text mode: CRLF read as LF
    (hit,) = Scanner().scan_paths([str(tmp_path / "fetched.env")]).hits
    assert hit.finding.key_id == key_id and hit.finding.secret_paired and hit.finding.verdict == "exposed"

    # the collector learns from the events who got which key; CloudTrail then shows it used
    state = StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}")
    creds, intel = CredsStore(state), IntelStore(state)
    assert creds.record_issued(harvests_from_events(events)) == 2
    used_at = fetch.ts + timedelta(minutes=7)
    write(tmp_path / "trail", "x", [
        record(key_id, "198.51.100.23", "GetCallerIdentity", used_at),
        record(key_id, "198.51.100.23", "ListBuckets", used_at + timedelta(seconds=3), source="s3.amazonaws.com",
               error="AccessDenied", agent="python-requests/2.31.0")])
    report = ingest([tmp_path / "trail"], creds_store=creds, intel_store=intel)

    assert {(i.value, i.role) for i in report.indicators} == {("127.0.0.1", "key-harvester"),
                                                             ("198.51.100.23", "key-user")}
    (finding,) = intel.findings(kind="honeytoken-used")
    assert finding.subject == key_id and finding.indicators == ["127.0.0.1", "198.51.100.23"]
    evidence = finding.evidence
    assert isinstance(evidence, HoneytokenEvidence)
    assert (evidence.event_id, evidence.session, evidence.sensor) == (fetch.id, fetch.session, "test-sensor")
    assert evidence.event_names == ["s3:ListBuckets", "sts:GetCallerIdentity"] and evidence.errors == ["AccessDenied"]
    service = IntelService(intel, FakeClock(used_at + timedelta(minutes=1)))
    service.load([])
    assert {i.value: i.roles for i in service.indicators()} == {"127.0.0.1": ["key-harvester"],
                                                               "198.51.100.23": ["key-user"]}


def test_ssh_shell_serves_aws_credentials(make_sensor) -> None:  # type: ignore[no-untyped-def]
    creds = SshSettings(accept_after_attempts=0, credentials=[LoginCredential(username="root", password="toor")])
    sensor = make_sensor(["ssh"], ssh=creds, honeytokens=True)
    port = sensor.port("ssh")
    done = subprocess.run(
        [tool("sshpass"), "-p", "toor", tool("ssh"), "-p", str(port), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "PubkeyAuthentication=no",
         "-o", "ConnectTimeout=30", "root@127.0.0.1", "ls -a ~/.aws; cat ~/.aws/credentials"],
        capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r"aws_access_key_id = (AKIA[A-Z2-7]{16})", done.stdout)
    assert match, (done.stdout, done.stderr)
    events = sensor.sink.wait_for(lambda evs: any(i.type == IOC_TYPE for e in evs for i in e.iocs), timeout=30)
    stamped = {i.value: e for e in events for i in e.iocs if i.type == IOC_TYPE}
    assert stamped[match.group(1)].src_ip == "127.0.0.1" and stamped[match.group(1)].protocol == "ssh"


def test_telnet_shell_serves_aws_credentials(make_sensor) -> None:  # type: ignore[no-untyped-def]
    creds = SshSettings(accept_after_attempts=0, credentials=[LoginCredential(username="root", password="xc3511")])
    sensor = make_sensor(["telnet"], ssh=creds, honeytokens=True, personas={"telnet": "debian-telnetd"})
    client = RawClient(sensor.port("telnet"), answer_options=True)
    client.telnet_login("root", "xc3511")
    client.send(b"cat /root/.aws/credentials\r\n")
    screen = client.read_until(b"# ").decode(errors="replace")
    client.close()
    match = re.search(r"aws_access_key_id = (AKIA[A-Z2-7]{16})", screen)
    assert match, screen
    events = sensor.sink.wait_for(lambda evs: any(i.type == IOC_TYPE for e in evs for i in e.iocs), timeout=30)
    stamped = {i.value: e for e in events for i in e.iocs if i.type == IOC_TYPE}
    assert stamped[match.group(1)].protocol == "telnet" and stamped[match.group(1)].src_ip == "127.0.0.1"
