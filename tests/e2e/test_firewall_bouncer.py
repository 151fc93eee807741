"""Debian's crowdsec-firewall-bouncer (nftables mode), unchanged, enforcing honeyguard's decisions
in a network namespace built here: a manual decision drops the attacker's connections to a
service while a friend still connects; deleting it lets the attacker back in.

The collector and the bouncer run inside the server's namespace, so the bouncer's nftables tables
live there and nothing on this machine's own firewall changes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import tool
from tests.e2e.netns_lab import Addresses, connects, netns_lab, run_in
from tests.server.helpers import CollectorProcess, honeyguard

SERVER, ATTACKER, FRIEND = "45.142.120.1", "45.142.120.7", "45.142.121.7"

FIREWALL_BOUNCER_CONFIG = """mode: nftables
pid_dir: {dir}
update_frequency: 1s
daemonize: false
log_mode: stdout
log_level: info
api_url: {url}/
api_key: {key}
insecure_skip_verify: false
disable_ipv6: true
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: crowdsec-blacklists
blacklists_ipv6: crowdsec6-blacklists
nftables:
  ipv4:
    enabled: true
    set-only: false
    table: crowdsec
    chain: crowdsec-chain
  ipv6:
    enabled: false
    set-only: false
    table: crowdsec6
    chain: crowdsec6-chain
prometheus:
  enabled: false
  listen_addr: 127.0.0.1
  listen_port: 60601
"""


@pytest.fixture
def lab() -> Iterator[dict[str, str]]:
    with netns_lab(Addresses(SERVER, ATTACKER, FRIEND)) as names:
        yield names


def _connects(ns: str, timeout: float = 2.0) -> bool:
    return connects(ns, SERVER, timeout=timeout)


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)  # polling the firewall's state, not synchronising on time


def test_firewall_bouncer_drops_the_attacker_then_lets_it_back(lab: dict[str, str], tmp_path: Path) -> None:
    in_srv = [tool("ip"), "netns", "exec", lab["srv"]]
    collector = CollectorProcess(tmp_path / "collector", command_prefix=in_srv).start()
    key = honeyguard("bouncer", "add", "firewall-1", "--config", str(collector.config)).stdout.strip()
    config = tmp_path / "firewall-bouncer.yaml"
    config.write_text(FIREWALL_BOUNCER_CONFIG.format(dir=tmp_path, url=collector.url, key=key))
    service = subprocess.Popen([*in_srv, sys.executable, "-m", "http.server", "8000", "--bind", SERVER],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bouncer = subprocess.Popen([*in_srv, tool("crowdsec-firewall-bouncer"), "-c", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _connects(lab["frd"]), "the service to come up")
        _wait(lambda: "crowdsec" in run_in(lab["srv"], tool("nft"), "list", "tables").stdout, "the bouncer's table")
        assert _connects(lab["atk"])  # no decision yet: both get through
        added = honeyguard("decisions", "add", ATTACKER, "--duration", "4h", "--reason", "firewall bouncer test",
                           "--config", str(collector.config))
        assert added.returncode == 0, added.stderr
        _wait(lambda: not _connects(lab["atk"], timeout=1.0), "the attacker to be dropped")
        assert _connects(lab["frd"]), "the friend was dropped too"
        elements = run_in(lab["srv"], tool("nft"), "list", "set", "ip", "crowdsec", "crowdsec-blacklists").stdout
        assert ATTACKER in elements and FRIEND not in elements, elements
        deleted = honeyguard("decisions", "delete", ATTACKER, "--config", str(collector.config))
        assert deleted.returncode == 0, deleted.stderr
        _wait(lambda: _connects(lab["atk"], timeout=1.0), "the attacker to be let back in")
    finally:
        bouncer.terminate()
        out = bouncer.communicate(timeout=30)[0].decode(errors="replace")
        service.terminate()
        service.wait(timeout=30)
        collector.stop()
    assert "401" not in out and "403" not in out, out
