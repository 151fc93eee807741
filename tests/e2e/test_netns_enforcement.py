"""In network namespaces built here: an nftables set exported by honeyguard drops the attacker's
connection to a service while another host still connects."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from honeyguard.export import render
from honeyguard.model.decision import Decision
from tests.conftest import tool

NOW = datetime.now(UTC)
SERVER, ATTACKER, FRIEND = "10.99.0.1", "10.99.1.2", "10.99.2.2"


def _ip(*args: str) -> None:
    subprocess.run([tool("ip"), *args], check=True, capture_output=True)


def _exec(ns: str, *argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("ip"), "netns", "exec", ns, *argv], capture_output=True, text=True,
                          check=False, **kw)  # type: ignore[call-overload]


@pytest.fixture
def lab() -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:6]
    names = {role: f"hg-{role}-{tag}" for role in ("srv", "atk", "frd")}
    for ns in names.values():
        _ip("netns", "add", ns)
        _exec(ns, tool("ip"), "link", "set", "lo", "up")
    try:
        for role, (peer_addr, net) in {"atk": (ATTACKER, "1"), "frd": (FRIEND, "2")}.items():
            a, b = f"v{role}{tag}", f"s{role}{tag}"
            _ip("link", "add", a, "type", "veth", "peer", "name", b)
            _ip("link", "set", a, "netns", names[role])
            _ip("link", "set", b, "netns", names["srv"])
            _exec(names[role], tool("ip"), "addr", "add", f"{peer_addr}/24", "dev", a)
            _exec(names[role], tool("ip"), "link", "set", a, "up")
            _exec(names[role], tool("ip"), "route", "add", "default", "dev", a)
            _exec(names["srv"], tool("ip"), "addr", "add", f"10.99.{net}.1/24", "dev", b)
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


def test_an_exported_set_drops_the_attacker_and_not_the_friend(lab: dict[str, str]) -> None:
    server = subprocess.Popen([tool("ip"), "netns", "exec", lab["srv"], sys.executable, "-m", "http.server",
                               "8000", "--bind", SERVER], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not _connects(lab["frd"]):
            assert time.monotonic() < deadline, "the service never came up"
            time.sleep(0.2)
        assert _connects(lab["atk"])  # before the decision, both get through
        decision = Decision(id="d1", indicator_id="indicator--lab", type="ip", value=ATTACKER, action="drop",
                            direction="ingress", created_at=NOW, expires_at=NOW + timedelta(hours=1),
                            roles=["exploiter"], confidence=90)
        loaded = _exec(lab["srv"], tool("nft"), "-f", "-", input=render("nftables", [decision], NOW))
        assert loaded.returncode == 0, loaded.stderr
        assert not _connects(lab["atk"]), "the attacker still connects"
        assert _connects(lab["frd"]), "the friend was blocked too"
        chain = _exec(lab["srv"], tool("nft"), "list", "chain", "inet", "honeyguard", "hg_input").stdout
        (rule,) = [line for line in chain.splitlines() if "ip saddr @ingress_v4" in line]
        packets = int(rule.split("packets ")[1].split()[0])
        assert packets > 0, rule  # the drops were ours
    finally:
        server.terminate()
        server.wait(10)
