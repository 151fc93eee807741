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
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import tool
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


def _ip(*args: str) -> None:
    subprocess.run([tool("ip"), *args], check=True, capture_output=True)


def _exec(ns: str, *argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("ip"), "netns", "exec", ns, *argv], capture_output=True, text=True,
                          check=False, **kw)  # type: ignore[call-overload]


@pytest.fixture
def lab() -> Iterator[dict[str, str]]:
    """Three namespaces: the server's, and the attacker's and the friend's, each on its own veth."""
    tag = uuid.uuid4().hex[:6]
    names = {role: f"hg-{role}-{tag}" for role in ("srv", "atk", "frd")}
    for ns in names.values():
        _ip("netns", "add", ns)
        _exec(ns, tool("ip"), "link", "set", "lo", "up")
    try:
        for role, (peer_addr, gateway) in {"atk": (ATTACKER, "45.142.120.254"),
                                           "frd": (FRIEND, "45.142.121.254")}.items():
            a, b = f"v{role}{tag}", f"s{role}{tag}"
            _ip("link", "add", a, "type", "veth", "peer", "name", b)
            _ip("link", "set", a, "netns", names[role])
            _ip("link", "set", b, "netns", names["srv"])
            _exec(names[role], tool("ip"), "addr", "add", f"{peer_addr}/24", "dev", a)
            _exec(names[role], tool("ip"), "link", "set", a, "up")
            _exec(names[role], tool("ip"), "route", "add", "default", "dev", a)
            _exec(names["srv"], tool("ip"), "addr", "add", f"{gateway}/24", "dev", b)
            _exec(names["srv"], tool("ip"), "link", "set", b, "up")
        _exec(names["srv"], tool("ip"), "addr", "add", f"{SERVER}/32", "dev", "lo")
        yield names
    finally:
        for ns in names.values():
            subprocess.run([tool("ip"), "netns", "del", ns], check=False, capture_output=True)


def _connects(ns: str, timeout: float = 2.0) -> bool:
    probe = (f"import socket; s=socket.create_connection(('{SERVER}', 8000), timeout={timeout}); "
             "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(s.recv(12))")
    return _exec(ns, sys.executable, "-c", probe, timeout=30).returncode == 0


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
        _wait(lambda: "crowdsec" in _exec(lab["srv"], tool("nft"), "list", "tables").stdout, "the bouncer's table")
        assert _connects(lab["atk"])  # no decision yet: both get through
        added = honeyguard("decisions", "add", ATTACKER, "--duration", "4h", "--reason", "firewall bouncer test",
                           "--config", str(collector.config))
        assert added.returncode == 0, added.stderr
        _wait(lambda: not _connects(lab["atk"], timeout=1.0), "the attacker to be dropped")
        assert _connects(lab["frd"]), "the friend was dropped too"
        elements = _exec(lab["srv"], tool("nft"), "list", "set", "ip", "crowdsec", "crowdsec-blacklists").stdout
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
