"""STIX 2.1: a bundle of indicators (patterns, validity, confidence) and their sightings."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from honeyguard.export.base import active, parse_net
from honeyguard.model.decision import Decision

_NS = uuid.UUID("2f0c3c41-7d0a-5e8e-9b3a-4f6d1c2b8a90")
IDENTITY_ID = "identity--" + str(uuid.UUID(bytes=uuid.uuid5(_NS, "identity|honeyguard").bytes, version=4))
_TYPES = {
    "scanner": "anomalous-activity", "bruteforcer": "malicious-activity", "exploiter": "malicious-activity",
    "c2": "malicious-activity", "callback": "malicious-activity", "malware-host": "malicious-activity",
    "download": "malicious-activity", "malware": "malicious-activity", "miner-pool": "malicious-activity",
    "proxy": "anonymization", "key-harvester": "malicious-activity", "key-user": "compromised",
}


def stix_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _stix_id(kind: str, key: str) -> str:
    """Deterministic (same input, same bytes) yet shaped as the UUIDv4 STIX recommends for SDOs."""
    digest = uuid.uuid5(_NS, f"{kind}|{key}").bytes
    return f"{kind}--{uuid.UUID(bytes=digest, version=4)}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def pattern_for(decision: Decision) -> str | None:
    value = decision.value
    if decision.type in ("ip", "cidr"):
        net = parse_net(decision)
        if net is None:
            return None
        text = net.text if net.prefix < (32 if net.version == 4 else 128) else net.text.split("/")[0]
        return f"[ipv{net.version}-addr:value = '{text}']"
    if decision.type == "domain":
        return f"[domain-name:value = '{_escape(value.lower())}']"
    if decision.type == "url":
        return f"[url:value = '{_escape(value)}']"
    if decision.type in ("sha256", "md5"):
        algo = "SHA-256" if decision.type == "sha256" else "MD5"
        return f"[file:hashes.'{algo}' = '{value.lower()}']"
    return None


def _indicator(d: Decision, pattern: str) -> dict[str, Any]:
    created = stix_time(d.created_at)
    types = sorted({_TYPES.get(role, "unknown") for role in d.roles} or {"unknown"})
    obj: dict[str, Any] = {
        "type": "indicator", "spec_version": "2.1", "id": _stix_id("indicator", d.indicator_id),
        "created_by_ref": IDENTITY_ID, "created": created, "modified": created,
        "name": f"{d.type} {d.value}"[:250], "description": d.reason or f"honeyguard {d.action}",
        "indicator_types": types, "pattern": pattern, "pattern_type": "stix",
        "valid_from": stix_time(d.first_seen or d.created_at), "valid_until": stix_time(d.expires_at),
        "confidence": d.confidence, "labels": sorted(f"honeyguard-role:{r}" for r in d.roles),
        "external_references": [{"source_name": "honeyguard", "external_id": d.indicator_id}],
    }
    if d.cves:
        obj["external_references"] += [{"source_name": "cve", "external_id": c} for c in sorted(d.cves)]
    if obj["valid_until"] <= obj["valid_from"]:
        obj["valid_from"] = created
    return obj


def _sighting(d: Decision, indicator_ref: str) -> dict[str, Any]:
    created = stix_time(d.created_at)
    obj: dict[str, Any] = {
        "type": "sighting", "spec_version": "2.1", "id": _stix_id("sighting", d.indicator_id),
        "created_by_ref": IDENTITY_ID, "created": created, "modified": created,
        "sighting_of_ref": indicator_ref, "count": min(max(d.sightings, 1), 999_999_999),
        "where_sighted_refs": [IDENTITY_ID],
    }
    if d.first_seen and d.last_seen:
        obj["first_seen"], obj["last_seen"] = stix_time(d.first_seen), stix_time(d.last_seen)
    return obj


class StixBundle:
    name = "stix"
    filename = "honeyguard.stix.json"
    description = "STIX 2.1 bundle: indicators with patterns, validity and confidence, and sightings"

    def write(self, decisions: Sequence[Decision], now: datetime, out: TextIO) -> None:
        identity = {"type": "identity", "spec_version": "2.1", "id": IDENTITY_ID, "created": stix_time(now),
                    "modified": stix_time(now), "name": "honeyguard", "identity_class": "system"}
        objects: list[dict[str, Any]] = [identity]
        seen: set[str] = set()
        for d in active(decisions, now, actions=("drop", "alert")):
            pattern = pattern_for(d)
            if pattern is None or d.indicator_id in seen:
                continue
            seen.add(d.indicator_id)
            indicator = _indicator(d, pattern)
            objects.append(indicator)
            objects.append(_sighting(d, indicator["id"]))
        bundle = {"type": "bundle", "id": _stix_id("bundle", f"{now.isoformat()}|{len(objects)}"),
                  "objects": objects}
        json.dump(bundle, out, indent=1, sort_keys=True)
        out.write("\n")


EXPORTERS = (StixBundle(),)
