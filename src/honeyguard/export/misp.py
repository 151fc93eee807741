"""MISP feed: a folder with manifest.json, one event file per role and day, and hashes.csv."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import msgspec

from honeyguard.export.base import ExportError, active
from honeyguard.model.decision import Decision

_NS = uuid.UUID("8b1d3f0e-5a6c-5d2e-a1f4-7c9e0b3d2a61")
ORG = {"name": "honeyguard", "uuid": str(uuid.uuid5(_NS, "org|honeyguard"))}
TAGS = [{"name": "tlp:green"}, {"name": "honeyguard"}]


def _attribute_type(d: Decision) -> tuple[str, str] | None:
    """(MISP type, category) for a decision, or None for what MISP cannot hold."""
    if d.type in ("ip", "cidr"):
        return ("ip-src" if d.direction == "ingress" else "ip-dst"), "Network activity"
    if d.type == "domain":
        return "domain", "Network activity"
    if d.type == "url":
        return "url", "Network activity"
    if d.type in ("sha256", "md5"):
        return d.type, "Payload delivery"
    return None


def _uuid5(name: str) -> str:
    """uuid.uuid5(_NS, name) without the UUID object (a million of them per large feed)."""
    raw = bytearray(hashlib.sha1(_NS.bytes + name.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _attribute(d: Decision, kind: tuple[str, str]) -> dict[str, Any]:
    return {
        "uuid": _uuid5(f"attr|{d.indicator_id}|{d.direction}"),
        "type": kind[0], "category": kind[1], "value": d.value, "to_ids": d.action == "drop",
        "timestamp": str(int(d.created_at.timestamp())), "distribution": "5",
        "comment": f"{'/'.join(d.roles)} confidence={d.confidence} {d.indicator_id}"[:250],
    }


MAX_ATTRIBUTES = 10_000  # per event: MISP instances and their users choke on larger events


def feed_events(decisions: Sequence[Decision], now: datetime) -> Iterator[dict[str, Any]]:
    """One event per role and day, split every MAX_ATTRIBUTES attributes; built one at a time."""
    groups: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    for d in active(decisions, now, actions=("drop", "alert")):
        groups[(d.roles[0] if d.roles else "unknown", d.created_at.date().isoformat())].append(d)
    for (role, day), members in sorted(groups.items()):
        usable = [(d, kind) for d in members if (kind := _attribute_type(d))]
        for part, start in enumerate(range(0, len(usable), MAX_ATTRIBUTES)):
            chunk = usable[start:start + MAX_ATTRIBUTES]
            suffix = f" (part {part + 1})" if len(usable) > MAX_ATTRIBUTES else ""
            stamp = str(max(int(d.created_at.timestamp()) for d, _ in chunk))
            yield {"Event": {
                "uuid": str(uuid.uuid5(_NS, f"event|{role}|{day}|{part}")),
                "info": f"honeyguard: {role} infrastructure {day}{suffix}", "date": day, "timestamp": stamp,
                "publish_timestamp": stamp, "published": True, "analysis": "2", "threat_level_id": "2",
                "distribution": "3", "Orgc": ORG, "Tag": TAGS,
                "Attribute": [_attribute(d, kind) for d, kind in chunk],
            }}


class MispFeed:
    name = "misp"
    filename = "misp-feed"  # a folder
    description = "MISP feed folder: manifest.json, an event per role and day, hashes.csv"

    def write(self, decisions: Sequence[Decision], now: datetime, out: TextIO) -> None:
        raise ExportError("the MISP feed is a folder: use --out DIR (or export --all DIR)")

    def write_files(self, decisions: Sequence[Decision], now: datetime, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        manifest: dict[str, Any] = {}
        hashes: list[str] = []
        written = []
        for doc in feed_events(decisions, now):
            event = doc["Event"]
            path = folder / f"{event['uuid']}.json"
            path.write_bytes(msgspec.json.encode(doc) + b"\n")  # keys in the fixed order built above
            written.append(path)
            manifest[event["uuid"]] = {k: event[k] for k in ("info", "date", "timestamp", "analysis",
                                                             "threat_level_id", "Orgc", "Tag")}
            hashes += [f"{hashlib.md5(a['value'].encode()).hexdigest()},{event['uuid']}"  # MISP feeds index by MD5
                       for a in event["Attribute"]]
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        (folder / "hashes.csv").write_text("".join(line + "\n" for line in sorted(hashes)))
        return [folder / "manifest.json", folder / "hashes.csv", *written]


EXPORTERS = (MispFeed(),)
