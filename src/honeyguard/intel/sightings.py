"""What an event says about threat infrastructure: the source's behaviour, and what it revealed.

The fold reads these as plain tuples (``Seen``): one per indicator an event touches, built on the
hot path of every ingested event, where a Struct per sighting measured a third of the fold's time.
The event's CVEs and techniques go with every sighting of it, so they are not repeated here.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

import msgspec

from honeyguard.model import Download, Event, Ioc, SshLogin, Upload

#: IOC role -> the role of the host that serves it, and of the IOC value itself.
_HOST_ROLE = {
    "download": "malware-host",
    "callback": "callback",
    "c2": "c2",
    "miner-pool": "miner-pool",
    "exfil": "exfil",
}
_SCAN_TECHNIQUES = frozenset({"T1595", "T1595.001", "T1595.002", "T1595.003", "T1046", "T1592"})
_UNLABELLED = {"http.request": "unlabelled http.request", "raw.data": "unlabelled raw.data"}
_AFTER_LOGIN = {kind: f"{kind} after login" for kind in ("ssh.command", "download", "upload")}

#: (type, value, role, behaviour, reason)
Seen = tuple[str, str, str, str, str]


class Sighting(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    value: str
    role: str
    behaviour: str  # a key of the scoring strengths: probe, scan, exploit, ...
    reason: str
    cves: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()


def sightings_from_event(event: Event) -> list[Sighting]:
    """The typed form of ``seen_in`` (for readers outside the fold)."""
    cves, techniques = tuple(event.cves), tuple(event.techniques)
    return [
        Sighting(type=t, value=v, role=r, behaviour=b, reason=why, cves=cves, techniques=techniques)
        for t, v, r, b, why in seen_in(event)
    ]


def seen_in(event: Event) -> list[Seen]:
    """Each indicator the event touches once: the source first, then what it revealed."""
    source = _source_behaviour(event)
    if not event.iocs and event.kind not in ("download", "upload"):
        return [] if source is None else [source]  # most events reveal nothing
    found: dict[tuple[str, str, str], Seen] = {}
    if source is not None:
        found[source[:3]] = source
    for seen in _revealed(event):
        found.setdefault(seen[:3], seen)
    return list(found.values())


def _source_behaviour(event: Event) -> Seen | None:
    kind = event.kind
    if event.cves:
        return ("ip", event.src_ip, "exploiter", "exploit", f"exploit {', '.join(event.cves[:3])} ({kind})")
    after_login = _AFTER_LOGIN.get(kind)
    if after_login is not None:
        return ("ip", event.src_ip, "exploiter", "post-exploit", after_login)
    if kind == "ssh.login":
        body = event.body
        assert isinstance(body, SshLogin)
        if body.success:
            return ("ip", event.src_ip, "bruteforcer", "login", f"guessed {body.method} login as {body.username!r}")
        return ("ip", event.src_ip, "bruteforcer", "bruteforce", f"failed {body.method} login as {body.username!r}")
    if event.techniques:
        if _SCAN_TECHNIQUES.issuperset(event.techniques):
            return ("ip", event.src_ip, "scanner", "scan", f"scan ({', '.join(event.rules[:3])})")
        return ("ip", event.src_ip, "exploiter", "technique", f"attack technique {', '.join(event.techniques[:3])}")
    unlabelled = _UNLABELLED.get(kind)
    if unlabelled is not None:
        return ("ip", event.src_ip, "scanner", "probe", unlabelled)
    return None


def _revealed(event: Event) -> list[Seen]:
    kind = event.kind
    iocs = list(event.iocs)
    body = event.body
    if kind == "download":
        assert isinstance(body, Download)
        iocs.append(Ioc(type="url", value=body.url, role="download"))
    elif kind == "upload":
        assert isinstance(body, Upload)
        iocs.append(Ioc(type="sha256", value=body.sha256, role="download"))
    out: list[Seen] = []
    for ioc in iocs:
        out.extend(_from_ioc(ioc.type, ioc.value, ioc.role, kind))
    return out


@lru_cache(maxsize=65536)  # a campaign repeats its payload URLs and hosts in every event
def _from_ioc(type_: str, value: str, role: str, kind: str) -> tuple[Seen, ...]:
    host_role = _HOST_ROLE.get(role)
    if host_role is None:
        return ()
    reason = f"{role} {type_} revealed in {kind}"
    if type_ == "url":
        host = _url_host(value)
        url: Seen = ("url", value, role, "revealed", reason)
        return (url,) if host is None else (url, (host[0], host[1], host_role, "revealed", reason))
    if type_ in ("ip", "domain"):
        return ((type_, value.lower(), host_role, "revealed", reason),)
    if type_ in ("sha256", "md5", "wallet"):
        return ((type_, value.lower(), "malware" if type_ != "wallet" else "miner-pool", "revealed", reason),)
    return ()


def _url_host(url: str) -> tuple[str, str] | None:
    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname
    except ValueError:
        return None
    if not host:
        return None
    try:
        return "ip", str(ipaddress.ip_address(host))
    except ValueError:
        return ("domain", host.lower().rstrip(".")) if "." in host else None
