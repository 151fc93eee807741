"""A real unbound on loopback, loaded with the RPZ zone: blocked names get NXDOMAIN, others resolve."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from honeyguard.export import render
from tests.conftest import free_port, tool
from tests.export.conftest import NOW, decision

CONF = """server:
  interface: 127.0.0.1
  port: {port}
  do-daemonize: no
  use-syslog: no
  username: ""
  chroot: ""
  directory: "{dir}"
  pidfile: "{dir}/unbound.pid"
  logfile: ""
  access-control: 127.0.0.0/8 allow
{extra}"""

RESOLVER = """  module-config: "respip iterator"
  do-not-query-localhost: no
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@{upstream}
rpz:
  name: rpz.honeyguard
  zonefile: "{zone}"
  rpz-log: yes
"""

# The "internet" the resolver forwards to: a second unbound on loopback that answers every name.
UPSTREAM = """  module-config: "iterator"
  local-zone: "allowed-site.example." static
  local-data: "www.allowed-site.example. A 192.0.2.10"
  local-zone: "evil-c2.example." static
  local-data: "evil-c2.example. A 192.0.2.66"
  local-data: "cdn.evil-c2.example. A 192.0.2.67"
"""


def _dig(port: int, name: str) -> str:
    result = subprocess.run([tool("dig"), "@127.0.0.1", "-p", str(port), name, "A", "+time=2", "+tries=1"],
                            capture_output=True, text=True, check=False)
    return result.stdout


def test_unbound_blocks_what_the_zone_lists_and_resolves_the_rest(tmp_path: Path) -> None:
    zone = tmp_path / "hg.rpz.zone"
    zone.write_text(render("rpz", [decision("evil-c2.example", type_="domain", direction="egress")], NOW))
    port, upstream_port = free_port(), free_port()
    upstream = _start(tmp_path / "upstream", upstream_port, UPSTREAM)
    server = _start(tmp_path / "resolver", port, RESOLVER.format(upstream=upstream_port, zone=zone))
    try:
        deadline = time.monotonic() + 20
        answer = ""
        while time.monotonic() < deadline and "status: NOERROR" not in answer:
            answer = _dig(port, "www.allowed-site.example")
            time.sleep(0.2)
        assert "status: NOERROR" in answer and "192.0.2.10" in answer
        blocked = _dig(port, "evil-c2.example")
        assert "status: NXDOMAIN" in blocked, blocked
        assert "status: NXDOMAIN" in _dig(port, "cdn.evil-c2.example")
        assert "192.0.2.66" in _dig(upstream_port, "evil-c2.example")  # the name exists upstream
    finally:
        for process in (server, upstream):
            process.terminate()
            process.wait(10)


def _start(folder: Path, port: int, extra: str) -> subprocess.Popen[str]:
    folder.mkdir()
    conf = folder / "unbound.conf"
    conf.write_text(CONF.format(port=port, dir=folder, extra=extra))
    checked = subprocess.run([tool("unbound-checkconf"), str(conf)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return subprocess.Popen([tool("unbound"), "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)
