"""A three-namespace lab built by the tests: a server, an attacker and a friend, each client on its
own veth into the server's namespace. Every address lives in these namespaces only; nothing here
touches this machine's own network or firewall."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from tests.conftest import tool


class Addresses(NamedTuple):
    server: str  # on the server namespace's loopback, reached through each veth
    attacker: str  # /24, its veth's far end takes .254 of the same /24
    friend: str


def ip(*args: str) -> None:
    subprocess.run([tool("ip"), *args], check=True, capture_output=True)


def run_in(ns: str, *argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("ip"), "netns", "exec", ns, *argv], capture_output=True, text=True,
                          check=False, **kw)  # type: ignore[call-overload]


def _gateway(address: str) -> str:
    return address.rsplit(".", 1)[0] + ".254"


@contextmanager
def netns_lab(addresses: Addresses) -> Iterator[dict[str, str]]:
    """Namespace names by role ("srv", "atk", "frd"); all deleted on exit."""
    tag = uuid.uuid4().hex[:6]
    names = {role: f"hg-{role}-{tag}" for role in ("srv", "atk", "frd")}
    for ns in names.values():
        ip("netns", "add", ns)
        run_in(ns, tool("ip"), "link", "set", "lo", "up")
    try:
        for role, address in (("atk", addresses.attacker), ("frd", addresses.friend)):
            outer, inner = f"v{role}{tag}", f"s{role}{tag}"
            ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            ip("link", "set", outer, "netns", names[role])
            ip("link", "set", inner, "netns", names["srv"])
            run_in(names[role], tool("ip"), "addr", "add", f"{address}/24", "dev", outer)
            run_in(names[role], tool("ip"), "link", "set", outer, "up")
            run_in(names[role], tool("ip"), "route", "add", "default", "dev", outer)
            run_in(names["srv"], tool("ip"), "addr", "add", f"{_gateway(address)}/24", "dev", inner)
            run_in(names["srv"], tool("ip"), "link", "set", inner, "up")
        run_in(names["srv"], tool("ip"), "addr", "add", f"{addresses.server}/32", "dev", "lo")
        yield names
    finally:
        for ns in names.values():
            subprocess.run([tool("ip"), "netns", "del", ns], check=False, capture_output=True)


def connects(ns: str, server: str, port: int = 8000, timeout: float = 2.0) -> bool:
    """Does a TCP connection from ``ns`` to the server get an HTTP answer?"""
    probe = (f"import socket; s=socket.create_connection(('{server}', {port}), timeout={timeout}); "
             "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(s.recv(12))")
    return run_in(ns, sys.executable, "-c", probe, timeout=30).returncode == 0
