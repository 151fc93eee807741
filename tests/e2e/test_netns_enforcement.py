"""In network namespaces built here: an nftables set exported by honeyguard drops the attacker's
connection to a service while another host still connects."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from honeyguard.export import render
from honeyguard.model.decision import Decision
from tests.conftest import tool
from tests.e2e.netns_lab import Addresses, connects, netns_lab, run_in

NOW = datetime.now(UTC)
SERVER, ATTACKER, FRIEND = "10.99.0.1", "10.99.1.2", "10.99.2.2"


@pytest.fixture
def lab() -> Iterator[dict[str, str]]:
    with netns_lab(Addresses(SERVER, ATTACKER, FRIEND)) as names:
        yield names


def _connects(ns: str) -> bool:
    return connects(ns, SERVER)


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
        loaded = run_in(lab["srv"], tool("nft"), "-f", "-", input=render("nftables", [decision], NOW))
        assert loaded.returncode == 0, loaded.stderr
        assert not _connects(lab["atk"]), "the attacker still connects"
        assert _connects(lab["frd"]), "the friend was blocked too"
        chain = run_in(lab["srv"], tool("nft"), "list", "chain", "inet", "honeyguard", "hg_input").stdout
        (rule,) = [line for line in chain.splitlines() if "ip saddr @ingress_v4" in line]
        packets = int(rule.split("packets ")[1].split()[0])
        assert packets > 0, rule  # the drops were ours
    finally:
        server.terminate()
        server.wait(10)
