"""Host firewalls: nftables (named sets with timeouts, one atomic transaction), ipset restore
files (built aside, then swapped in), and iptables-restore rules."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TextIO

from honeyguard.export.base import label, seconds_left, write_chunked
from honeyguard.export.networks import NetworkSets
from honeyguard.model.decision import Decision

TABLE = "honeyguard"


class Nftables:
    name = "nftables"
    filename = "honeyguard.nft"
    description = "nftables table with named interval sets (timeouts), loaded atomically by nft -f"

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        nets = NetworkSets(decisions, now)
        out.write(f"#!/usr/sbin/nft -f\n# honeyguard decisions at {now.isoformat()}; one transaction:\n"
                  f"# the old table goes and the new one comes in a single atomic load.\n"
                  f"table inet {TABLE}\ndelete table inet {TABLE}\n\ntable inet {TABLE} {{\n")
        for direction in ("ingress", "egress"):
            for version in (4, 6):
                self._set(out, direction, version, nets.entries(version, direction), now)
        for hook, directions in (("input", ("ingress",)), ("forward", ("ingress", "egress")),
                                 ("output", ("egress",))):
            out.write(f"\tchain hg_{hook} {{\n\t\ttype filter hook {hook} priority filter - 10; policy accept;\n")
            for direction in directions:
                field = "saddr" if direction == "ingress" else "daddr"
                for version, proto in ((4, "ip"), (6, "ip6")):
                    out.write(f"\t\t{proto} {field} @{direction}_v{version} counter drop\n")
            out.write("\t}\n")
        out.write("}\n")

    @staticmethod
    def _set(out: TextIO, direction: str, version: int, items: Iterator[tuple[str, Decision]],
             now: datetime) -> None:
        kind = "ipv4_addr" if version == 4 else "ipv6_addr"
        out.write(f"\tset {direction}_v{version} {{\n\t\ttype {kind}\n\t\tflags interval, timeout\n")
        lines = (f'\t\t\t{text} timeout {seconds_left(d, now)}s comment "{label(d, 100)}"' for text, d in items)
        first = next(lines, None)
        if first is not None:
            out.write(f"\t\telements = {{\n{first}")
            write_chunked(out, (",\n" + line for line in lines))
            out.write("\n\t\t}\n")
        out.write("\t}\n")


class Ipset:
    name = "ipset"
    filename = "honeyguard.ipset"
    description = "ipset restore file: each set is filled aside and swapped in, then the copy destroyed"

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        nets = NetworkSets(decisions, now)
        out.write(f"# honeyguard decisions at {now.isoformat()}: ipset restore -exist < this file\n")
        for direction in ("ingress", "egress"):
            for version in (4, 6):
                keys = nets.kept(version, direction)
                self._set(out, f"hg-{direction}-v{version}", version, len(keys),
                          nets.entries(version, direction, keys), now)

    @staticmethod
    def _set(out: TextIO, name: str, version: int, count: int, items: Iterator[tuple[str, Decision]],
             now: datetime) -> None:
        fam = "inet" if version == 4 else "inet6"
        size = max(65536, count * 2)
        header = f"hash:net family {fam} hashsize 1024 maxelem {size} timeout 0 comment"
        out.write(f"create {name} {header}\ncreate {name}-new {header}\nflush {name}-new\n")
        write_chunked(out, (f'add {name}-new {text} timeout {seconds_left(d, now)} comment "{label(d, 200)}"\n'
                            for text, d in items))
        out.write(f"swap {name}-new {name}\ndestroy {name}-new\n")


class Iptables:
    name = "iptables"
    filename = "honeyguard.iptables"
    description = "iptables-restore rules (IPv4) in HONEYGUARD-IN / HONEYGUARD-OUT chains"
    version = 4

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        nets = NetworkSets(decisions, now)
        out.write(f"# honeyguard decisions at {now.isoformat()}: iptables-restore --noflush < this file\n")
        out.write("*filter\n:HONEYGUARD-IN - [0:0]\n:HONEYGUARD-OUT - [0:0]\n-F HONEYGUARD-IN\n-F HONEYGUARD-OUT\n")
        for direction, flag, chain in (("ingress", "-s", "HONEYGUARD-IN"), ("egress", "-d", "HONEYGUARD-OUT")):
            write_chunked(out, (f'-A {chain} {flag} {text} -m comment --comment "{label(d, 200)}" -j DROP\n'
                                for text, d in nets.entries(self.version, direction)))
        out.write("COMMIT\n")


class Ip6tables(Iptables):
    name = "ip6tables"
    filename = "honeyguard.ip6tables"
    description = "ip6tables-restore rules (IPv6) in HONEYGUARD-IN / HONEYGUARD-OUT chains"
    version = 6


EXPORTERS = (Nftables(), Ipset(), Iptables(), Ip6tables())
