"""What an event says about threat infrastructure: the source's behaviour, and what it revealed."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

import msgspec

from honeyguard.model import Download, Event, Ioc, SshLogin, Upload

#: IOC role -> the role of the host that serves it, and of the IOC value itself.
_HOST_ROLE = {"download": "malware-host", "callback": "callback", "c2": "c2", "miner-pool": "miner-pool",
              "exfil": "exfil"}
_SCAN_TECHNIQUES = {"T1595", "T1595.001", "T1595.002", "T1595.003", "T1046", "T1592"}


class Sighting(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    value: str
    role: str
    behaviour: str  # a key of the scoring strengths: probe, scan, exploit, ...
    reason: str
    cves: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()


def sightings_from_event(event: Event) -> list[Sighting]:
    found: dict[tuple[str, str, str], Sighting] = {}
    source = _source_behaviour(event)
    if source is not None:
        found[(source.type, source.value, source.role)] = source
    for sighting in _revealed(event):
        found.setdefault((sighting.type, sighting.value, sighting.role), sighting)
    return list(found.values())


def _source_behaviour(event: Event) -> Sighting | None:
    role, behaviour, reason = _classify(event)
    if role is None:
        return None
    return Sighting(type="ip", value=event.src_ip, role=role, behaviour=behaviour, reason=reason,
                    cves=tuple(event.cves), techniques=tuple(event.techniques))


def _classify(event: Event) -> tuple[str | None, str, str]:
    kind = event.kind
    if event.cves:
        return "exploiter", "exploit", f"exploit {', '.join(event.cves[:3])} ({kind})"
    if kind in ("ssh.command", "download", "upload"):
        return "exploiter", "post-exploit", f"{kind} after login"
    if kind == "ssh.login":
        body = event.body
        assert isinstance(body, SshLogin)
        if body.success:
            return "bruteforcer", "login", f"guessed {body.method} login as {body.username!r}"
        return "bruteforcer", "bruteforce", f"failed {body.method} login as {body.username!r}"
    if event.techniques:
        if set(event.techniques) <= _SCAN_TECHNIQUES:
            return "scanner", "scan", f"scan ({', '.join(event.rules[:3])})"
        return "exploiter", "technique", f"attack technique {', '.join(event.techniques[:3])}"
    if kind in ("http.request", "raw.data"):
        return "scanner", "probe", f"unlabelled {kind}"
    return None, "", ""


def _revealed(event: Event) -> list[Sighting]:
    kind = event.kind
    if not event.iocs and kind not in ("download", "upload"):
        return []  # most events reveal nothing: leave before building anything
    iocs = list(event.iocs)
    body = event.body
    if kind == "download":
        assert isinstance(body, Download)
        iocs.append(Ioc(type="url", value=body.url, role="download"))
    elif kind == "upload":
        assert isinstance(body, Upload)
        iocs.append(Ioc(type="sha256", value=body.sha256, role="download"))
    out: list[Sighting] = []
    for ioc in iocs:
        out.extend(_from_ioc(ioc, event))
    return out


def _from_ioc(ioc: Ioc, event: Event) -> list[Sighting]:
    host_role = _HOST_ROLE.get(ioc.role)
    if host_role is None:
        return []
    reason = f"{ioc.role} {ioc.type} revealed in {event.kind}"
    common = {"behaviour": "revealed", "reason": reason, "cves": tuple(event.cves),
              "techniques": tuple(event.techniques)}
    if ioc.type == "url":
        out = [Sighting(type="url", value=ioc.value, role=ioc.role, **common)]  # type: ignore[arg-type]
        host = _url_host(ioc.value)
        if host is not None:
            out.append(Sighting(type=host[0], value=host[1], role=host_role, **common))  # type: ignore[arg-type]
        return out
    if ioc.type in ("ip", "domain"):
        return [Sighting(type=ioc.type, value=ioc.value.lower(), role=host_role, **common)]  # type: ignore[arg-type]
    if ioc.type in ("sha256", "md5", "wallet"):
        return [Sighting(type=ioc.type, value=ioc.value.lower(), role="malware" if ioc.type != "wallet"
                         else "miner-pool", **common)]  # type: ignore[arg-type]
    return []


@lru_cache(maxsize=65536)  # payload URLs repeat across a campaign; parsing them is the costly part
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
