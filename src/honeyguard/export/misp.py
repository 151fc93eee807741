"""MISP feed: a folder with manifest.json, one event file per role and day, and hashes.csv."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

import msgspec

from honeyguard.export.base import ExportError, in_force, in_stable_order, write_chunked
from honeyguard.model.decision import Decision

_NS = uuid.UUID("8b1d3f0e-5a6c-5d2e-a1f4-7c9e0b3d2a61")
ORG = {"name": "honeyguard", "uuid": str(uuid.uuid5(_NS, "org|honeyguard"))}
TAGS = [{"name": "tlp:green"}, {"name": "honeyguard"}]


_NETWORK, _PAYLOAD = "Network activity", "Payload delivery"
_KINDS = {
    "domain": ("domain", _NETWORK),
    "url": ("url", _NETWORK),
    "sha256": ("sha256", _PAYLOAD),
    "md5": ("md5", _PAYLOAD),
}


def _attribute_type(d: Decision) -> tuple[str, str] | None:
    """(MISP type, category) for a decision, or None for what MISP cannot hold."""
    if d.type in ("ip", "cidr"):
        return ("ip-src" if d.direction == "ingress" else "ip-dst"), _NETWORK
    return _KINDS.get(d.type)


def _uuid5(name: str) -> str:
    """uuid.uuid5(_NS, name) without the UUID object (a million of them per large feed)."""
    h = hashlib.sha1(_NS_BYTES + name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_NS_BYTES = _NS.bytes
_VARIANT = {c: f"{int(c, 16) & 0x3 | 0x8:x}" for c in "0123456789abcdef"}  # RFC 4122 variant bits


class Attribute(msgspec.Struct, gc=False):
    """A MISP attribute; encoded with its fields in this order."""

    uuid: str
    type: str
    category: str
    value: str
    to_ids: bool
    timestamp: str
    distribution: str
    comment: str


def _attribute(d: Decision, stamp: str) -> Attribute:
    kind, category = _attribute_type(d) or ("", "")
    return Attribute(
        _uuid5(f"attr|{d.indicator_id}|{d.direction}"),
        kind,
        category,
        d.value,
        d.action == "drop",
        stamp,
        "5",
        f"{_roles(tuple(d.roles))} confidence={d.confidence} {d.indicator_id}"[:250],
    )


_STAMP_CACHE_SIZE = 4096  # distinct creation times kept; real decisions come in batches sharing one


class _Stamps(dict[datetime, tuple[int, str]]):
    """A datetime's Unix seconds, as int and text, remembered: ``stamps.get(m) or stamps.of(m)``
    (equal datetimes have equal timestamps, whatever their zone)."""

    def of(self, moment: datetime) -> tuple[int, str]:
        seconds = int(moment.timestamp())
        if len(self) >= _STAMP_CACHE_SIZE:
            self.clear()
        self[moment] = found = (seconds, str(seconds))
        return found


@lru_cache(maxsize=1024)  # few distinct role sets
def _roles(roles: tuple[str, ...]) -> str:
    return "/".join(roles)


MAX_ATTRIBUTES = 10_000  # per event: MISP instances and their users choke on larger events


class EventPlan(msgspec.Struct, frozen=True):
    """One event of the feed before it is built: its role, day, part and members."""

    role: str
    day: str
    part: int
    parts: int
    members: list[Decision]

    @property
    def uuid(self) -> str:
        return str(uuid.uuid5(_NS, f"event|{self.role}|{self.day}|{self.part}"))


def plan_events(decisions: Iterable[Decision], now: datetime) -> list[EventPlan]:
    """One event per role and day, split every MAX_ATTRIBUTES attributes, in feed order.

    Grouped in the order given (memory order: cheap to read), then each group put in the stable order."""
    groups: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    days: dict[datetime, str] = {}  # the day of each UTC creation time met (the day is in the time's own zone)
    for d in in_force(decisions, now, actions=("drop", "alert")):
        if _attribute_type(d) is not None:
            day = days.get(d.created_at) if d.created_at.tzinfo is UTC else None
            if day is None:
                day = d.created_at.date().isoformat()
                if d.created_at.tzinfo is UTC and len(days) < _STAMP_CACHE_SIZE:
                    days[d.created_at] = day
            groups[(d.roles[0] if d.roles else "unknown", day)].append(d)
    plans = []
    for (role, day), members in sorted(groups.items()):
        usable = in_stable_order(members)
        parts = -(-len(usable) // MAX_ATTRIBUTES)
        plans += [
            EventPlan(role, day, part, parts, usable[start : start + MAX_ATTRIBUTES])
            for part, start in enumerate(range(0, len(usable), MAX_ATTRIBUTES))
        ]
    return plans


def build_event(plan: EventPlan) -> dict[str, Any]:
    stamps: list[int] = []
    attributes: list[Attribute] = []
    known = _Stamps()
    for d in plan.members:  # one pass: each decision is read once, in the stable order
        seconds, text = known.get(d.created_at) or known.of(d.created_at)
        stamps.append(seconds)
        attributes.append(_attribute(d, text))
    stamp = str(max(stamps))
    suffix = f" (part {plan.part + 1})" if plan.parts > 1 else ""
    return {
        "Event": {
            "uuid": plan.uuid,
            "info": f"honeyguard: {plan.role} infrastructure {plan.day}{suffix}",
            "date": plan.day,
            "timestamp": stamp,
            "publish_timestamp": stamp,
            "published": True,
            "analysis": "2",
            "threat_level_id": "2",
            "distribution": "3",
            "Orgc": ORG,
            "Tag": TAGS,
            "Attribute": attributes,
        }
    }


def feed_events(decisions: Iterable[Decision], now: datetime) -> Iterator[dict[str, Any]]:
    """The feed's events, built one at a time."""
    return map(build_event, plan_events(decisions, now))


class MispFeed:
    name = "misp"
    filename = "misp-feed"  # a folder
    description = "MISP feed folder: manifest.json, an event per role and day, hashes.csv"

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        raise ExportError("the MISP feed is a folder: use --out DIR (or export --all DIR)")

    def write_files(self, decisions: Iterable[Decision], now: datetime, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        plans = plan_events(decisions, now)
        manifest: dict[str, Any] = {}
        # The index lines themselves: fixed-width MD5 hex, then the uuid, so text order is (MD5, uuid) order.
        hashes: list[str] = []
        written = []
        for plan in plans:
            doc = build_event(plan)
            event = doc["Event"]
            path = folder / f"{event['uuid']}.json"
            path.write_bytes(msgspec.json.encode(doc) + b"\n")  # keys in the fixed order built above
            written.append(path)
            manifest[event["uuid"]] = {
                k: event[k] for k in ("info", "date", "timestamp", "analysis", "threat_level_id", "Orgc", "Tag")
            }
            tail = f",{event['uuid']}\n"
            hashes += [hashlib.md5(a.value.encode()).hexdigest() + tail for a in event["Attribute"]]
            plan.members.clear()  # done with this event: its memory goes back before the next
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        hashes.sort()
        with (folder / "hashes.csv").open("w") as handle:  # MISP feeds index attributes by MD5
            write_chunked(handle, hashes)
        return [folder / "manifest.json", folder / "hashes.csv", *written]


EXPORTERS = (MispFeed(),)
