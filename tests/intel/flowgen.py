"""A seeded generator of AWS VPC Flow Logs (version 2, default format) with planted incidents.

Background: hundreds of internal hosts using popular HTTPS services, a shared CDN address, DNS on the
VPC resolver, NTP pool servers, a public web server answering internet clients, IPv6 traffic, and
rejected inbound scans from the internet. Planted: three instances beaconing to a C2 (and two of them
to an unlisted second stage), a worm-like outbound scanner, a large download from a malware host, an
instance talking to an address inside a listed malicious range. The returned ``Planted`` is the
ground truth the tests compare with.
"""

from __future__ import annotations

import gzip
import ipaddress
import random
from dataclasses import dataclass, field
from pathlib import Path

HEADER = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
          "start end action log-status")
ACCOUNT = "123456789012"
T0 = 1_764_400_000  # 2025-11-29T07:06:40Z
HOURS = 6
TCP, UDP = 6, 17
V6_HOST, V6_CDN = "2600:1f18:abcd:100::5", "2606:4700::6810:84e5"  # an instance in the VPC's IPv6 block


@dataclass
class Planted:
    hosts: list[str]
    popular: str  # a CDN address every host uses
    c2: str
    beaconing: list[str]
    beacon_period: int
    second_stage: str
    second_stage_peers: list[str]
    scanner: str
    scan_port: int
    scan_targets: int
    malware_host: str
    download_host: str
    download_bytes: int
    bad_range: str  # a listed malware-host range
    range_peer: str  # the address inside it an instance talks to
    range_host: str
    ipv6_records: int = 0
    records: int = 0
    hosts_using: dict[str, set[str]] = field(default_factory=dict)  # external address -> internal hosts


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.lines: list[tuple[int, str]] = []
        self.enis: dict[str, str] = {}

    def eni(self, host: str) -> str:
        return self.enis.setdefault(host, f"eni-{self.rng.getrandbits(64):017x}")

    def record(self, src: str, dst: str, sport: int, dport: int, proto: int, packets: int, nbytes: int,
               start: int, duration: int, action: str = "ACCEPT", eni_of: str | None = None) -> None:
        line = (f"2 {ACCOUNT} {self.eni(eni_of or src)} {src} {dst} {sport} {dport} {proto} {packets} "
                f"{nbytes} {start} {start + duration} {action} OK")
        self.lines.append((start, line))

    def connection(self, client: str, server: str, port: int, start: int, *, proto: int = TCP,
                   up: int = 900, down: int = 4000, action: str = "ACCEPT") -> None:
        """A request record and its response record, as both appear at the client's interface."""
        eph = self.rng.randint(32768, 60999)
        duration = self.rng.randint(1, 30)
        self.record(client, server, eph, port, proto, max(1, up // 500), up, start, duration, action, client)
        if action == "ACCEPT":
            self.record(server, client, port, eph, proto, max(1, down // 1200), down, start, duration,
                        action, client)


def _public(rng: random.Random, first_octets: tuple[int, ...]) -> str:
    return f"{rng.choice(first_octets)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _background(w: _Writer, rng: random.Random, hosts: list[str], planted: Planted) -> None:
    services = [f"52.94.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(60)]
    ntp = [f"162.159.200.{n}" for n in (1, 123, 7, 99)]
    end = T0 + HOURS * 3600

    def use(external: str, host: str) -> None:
        planted.hosts_using.setdefault(external, set()).add(host)

    for host in hosts:
        profile = rng.sample(services, 8)
        for _ in range(rng.randint(20, 40)):
            svc = rng.choice(profile)
            w.connection(host, svc, 443, rng.randint(T0, end), up=rng.randint(300, 3000),
                         down=rng.randint(2000, 400_000))
            use(svc, host)
        for _ in range(rng.randint(3, 8)):
            w.connection(host, planted.popular, 443, rng.randint(T0, end), down=rng.randint(5000, 900_000))
            use(planted.popular, host)
        for _ in range(rng.randint(5, 15)):
            w.connection(host, "10.20.0.2", 53, rng.randint(T0, end), proto=UDP, up=80, down=160)
        server = rng.choice(ntp)
        for _ in range(2):
            w.connection(host, server, 123, rng.randint(T0, end), proto=UDP, up=76, down=76)
            use(server, host)
    web = "10.20.0.10"  # a public web server: internet clients connect to it
    for _ in range(300):
        w.connection(_public(rng, (77, 89)), web, 443, rng.randint(T0, end), up=700, down=30_000)
    for _ in range(3000):  # internet background noise, rejected by security groups
        target = rng.choice(hosts)
        w.record(_public(rng, (77, 89, 141)), target, rng.randint(1024, 65000),
                 rng.choice((22, 23, 445, 3389, 5900)), TCP, 1, 44, rng.randint(T0, end), 0, "REJECT", target)
    for _ in range(40):
        w.connection(V6_HOST, V6_CDN, 443, rng.randint(T0, end), down=50_000)
        planted.ipv6_records += 2


def _plant(w: _Writer, rng: random.Random, planted: Planted) -> None:
    for host in planted.beaconing:  # a beacon every period, +-2 s, each a new connection
        t = T0 + rng.randint(0, 600)
        while t < T0 + HOURS * 3600 - 60:
            w.connection(host, planted.c2, 443, t, up=420, down=310)
            t += planted.beacon_period + rng.randint(-2, 2)
    for host in planted.second_stage_peers:
        for _ in range(3):
            w.connection(host, planted.second_stage, 8443, rng.randint(T0, T0 + HOURS * 3600), up=2000,
                         down=60_000)
    scan_start = T0 + 2 * 3600
    for i in range(planted.scan_targets):  # SYNs only: nobody answers, a few rejected by the NACL
        target = _public(rng, (31, 46, 109, 176))
        action = "REJECT" if i % 10 == 0 else "ACCEPT"
        w.record(planted.scanner, target, rng.randint(32768, 60999), planted.scan_port, TCP,
                 rng.randint(1, 2), 60, scan_start + i * 2, 1, action)
    # The download: one long connection spanning three capture windows.
    eph, t = 51234, T0 + 3 * 3600
    w.record(planted.download_host, planted.malware_host, eph, 80, TCP, 3, 420, t, 5)
    for part in (10_000_000, 10_000_000, planted.download_bytes - 20_000_000):
        w.record(planted.malware_host, planted.download_host, 80, eph, TCP, part // 1400, part, t, 599,
                 eni_of=planted.download_host)
        t += 600
    for _ in range(4):
        w.connection(planted.range_host, planted.range_peer, 9001, rng.randint(T0, T0 + HOURS * 3600))


def write_flow_logs(folder: Path, seed: int = 7, files: int = 4) -> Planted:
    """Write ``files`` flow-log files into ``folder`` (half of them gzipped, one in a subfolder)."""
    rng = random.Random(seed)
    net = ipaddress.ip_network("10.20.0.0/16")
    picks = sorted(rng.sample(range(256, 65000), 400))
    hosts = [str(net.network_address + i) for i in picks]
    planted = Planted(
        hosts=hosts, popular="151.101.1.69", c2="203.0.113.50", beaconing=hosts[10:13], beacon_period=300,
        second_stage="198.51.100.77", second_stage_peers=hosts[10:12], scanner=hosts[50], scan_port=445,
        scan_targets=600, malware_host="192.0.2.66", download_host=hosts[90], download_bytes=25_000_000,
        bad_range="185.220.101.0/24", range_peer="185.220.101.33", range_host=hosts[120],
    )
    w = _Writer(rng)
    _background(w, rng, hosts, planted)
    _plant(w, rng, planted)
    w.lines.sort()
    planted.records = len(w.lines)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        chunk = [line for _, line in w.lines[index::files]]
        text = HEADER + "\n" + "\n".join(chunk) + "\n"
        name = f"{ACCOUNT}_vpcflowlogs_us-east-1_fl-0abc_20251129T{index:02d}00Z_{index:04x}.log"
        target = folder / ("sub" if index == files - 1 else "") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if index % 2:
            target.with_name(name + ".gz").write_bytes(gzip.compress(text.encode()))
        else:
            target.write_text(text)
    return planted


def write_indicators(path: Path, planted: Planted, seed: int = 7, noise: int = 2000) -> dict[str, int]:
    """The indicators CSV: the planted ones, a listed CDN address, unrelated noise, bad rows.
    Returns the counts of malformed and other-type rows written."""
    rng = random.Random(seed)
    rows = [
        "value,type,role,confidence",
        f"{planted.c2},ip,c2,90",
        f"{planted.malware_host},ip,malware-host,80",
        f"{planted.bad_range},cidr,malware-host,60",
        f"{planted.popular},ip,scanner,30",  # a feed's false positive: the blast radius shows it
        "45.155.205.0/24,cidr,scanner,70",
        "2001:db8:dead::/48,cidr,c2,90",
    ]
    rows += [f"5.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)},ip,"
             f"{rng.choice(['c2', 'scanner', 'malware-host'])},{rng.randint(10, 100)}" for _ in range(noise)]
    bad = ["not-an-ip,ip,c2,90", "1.2.3.4,ip,c2,high", "300.1.1.1,ip,c2,50", "1.2.3.0/33,cidr,c2,50",
           "1.2.3.5,ip,c2,101", "1.2.3.6,ip,'; drop table x,50"]
    other = ["evil.example,domain,c2,90", "http://x.example/a.sh,url,download,80"]
    rows += bad + other
    path.write_text("\n".join(rows) + "\n")
    return {"malformed": len(bad), "other_types": len(other)}
