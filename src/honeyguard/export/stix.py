"""STIX 2.1: a bundle of indicators (patterns, validity, confidence) and their sightings."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache
from json.encoder import encode_basestring_ascii as _json
from typing import Any, TextIO

from honeyguard.export.base import in_force, in_stable_order, network_of
from honeyguard.export.json_text import dumps, write_document
from honeyguard.model.decision import Decision

_NS = uuid.UUID("2f0c3c41-7d0a-5e8e-9b3a-4f6d1c2b8a90")
_NS_BYTES = _NS.bytes
IDENTITY_ID = "identity--" + str(uuid.UUID(bytes=uuid.uuid5(_NS, "identity|honeyguard").bytes, version=4))
_TYPES = {
    "scanner": "anomalous-activity", "bruteforcer": "malicious-activity", "exploiter": "malicious-activity",
    "c2": "malicious-activity", "callback": "malicious-activity", "malware-host": "malicious-activity",
    "download": "malicious-activity", "malware": "malicious-activity", "miner-pool": "malicious-activity",
    "proxy": "anonymization", "key-harvester": "malicious-activity", "key-user": "compromised",
}


_TWO = [f"{i:02d}" for i in range(60)]
_MILLIS = [f"{i:03d}" for i in range(1000)]


def stix_time(moment: datetime) -> str:
    """UTC time to the millisecond, e.g. 2026-06-01T12:00:00.000Z (tables: strftime costs 2 us a call)."""
    return (f"{moment.year}-{_TWO[moment.month]}-{_TWO[moment.day]}T{_TWO[moment.hour]}:{_TWO[moment.minute]}:"
            f"{_TWO[moment.second]}.{_MILLIS[moment.microsecond // 1000]}Z")


def _stix_id(kind: str, key: str) -> str:
    """Deterministic (same input, same bytes) yet shaped as the UUIDv4 STIX recommends for SDOs:
    uuid5's hash with the version 4 bits, without building UUID objects (two per decision)."""
    h = hashlib.sha1(_NS_BYTES + f"{kind}|{key}".encode()).hexdigest()
    return f"{kind}--{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_VARIANT = {c: f"{int(c, 16) & 0x3 | 0x8:x}" for c in "0123456789abcdef"}  # RFC 4122 variant bits


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def pattern_for(decision: Decision) -> str | None:
    value = decision.value
    if decision.type in ("ip", "cidr"):
        net = network_of(value)
        if net is None:
            return None
        version, text = net
        if text.endswith("/32" if version == 4 else "/128"):  # a single address
            text = text.split("/")[0]
        return f"[ipv{version}-addr:value = '{text}']"
    if decision.type == "domain":
        return f"[domain-name:value = '{_escape(value.lower())}']"
    if decision.type == "url":
        return f"[url:value = '{_escape(value)}']"
    if decision.type in ("sha256", "md5"):
        algo = "SHA-256" if decision.type == "sha256" else "MD5"
        return f"[file:hashes.'{algo}' = '{value.lower()}']"
    return None


# The objects are written straight to JSON text (a million of each per large export), laid out as
# json.dumps(obj, indent=1, sort_keys=True) lays out an item of the bundle's "objects": keys sorted,
# depth 2. tests/export check the bundle against json.dumps of itself.
_P3, _P4, _P5 = "\n   ", "\n    ", "\n     "
_ID_REF = f'"{IDENTITY_ID}"'


def _strings(values: list[str]) -> str:
    """A list of strings at depth 3."""
    return f"[{_P4}{(',' + _P4).join(map(_json, values))}{_P3}]" if values else "[]"


@lru_cache(maxsize=1024)  # few distinct role sets
def _role_lists(roles: tuple[str, ...]) -> tuple[str, str]:
    """The indicator_types and labels lists of these roles, as JSON text."""
    types = sorted({_TYPES.get(role, "unknown") for role in roles} or {"unknown"})
    return _strings(types), _strings(sorted(f"honeyguard-role:{r}" for r in roles))


def _reference(source: str, external_id: str) -> str:
    return f'{{{_P5}"external_id": {_json(external_id)},{_P5}"source_name": "{source}"{_P4}}}'


def _indicator(d: Decision, pattern: str, indicator_id: str, created: str) -> str:
    types, labels = _role_lists(tuple(d.roles))
    references = _reference("honeyguard", d.indicator_id)
    if d.cves:
        references += "".join("," + _P4 + _reference("cve", c) for c in sorted(d.cves))
    valid_from = created if d.first_seen is None else stix_time(d.first_seen)
    valid_until = stix_time(d.expires_at)
    if valid_until <= valid_from:
        valid_from = created
    return (f'{{{_P3}"confidence": {int.__repr__(d.confidence)},{_P3}"created": "{created}",'
            f'{_P3}"created_by_ref": {_ID_REF},{_P3}"description": {_json(d.reason or f"honeyguard {d.action}")},'
            f'{_P3}"external_references": [{_P4}{references}{_P3}],'
            f'{_P3}"id": "{indicator_id}",{_P3}"indicator_types": {types},{_P3}"labels": {labels},'
            f'{_P3}"modified": "{created}",{_P3}"name": {_json(f"{d.type} {d.value}"[:250])},'
            f'{_P3}"pattern": {_json(pattern)},{_P3}"pattern_type": "stix",{_P3}"spec_version": "2.1",'
            f'{_P3}"type": "indicator",{_P3}"valid_from": "{valid_from}",{_P3}"valid_until": "{valid_until}"\n  }}')


def _sighting(d: Decision, indicator_id: str, created: str) -> str:
    first = last = ""
    if d.first_seen and d.last_seen:
        first = f'{_P3}"first_seen": "{stix_time(d.first_seen)}",'
        last = f'{_P3}"last_seen": "{stix_time(d.last_seen)}",'
    return (f'{{{_P3}"count": {int.__repr__(min(max(d.sightings, 1), 999_999_999))},{_P3}"created": "{created}",'
            f'{_P3}"created_by_ref": {_ID_REF},{first}'
            f'{_P3}"id": "{_stix_id("sighting", d.indicator_id)}",{last}{_P3}"modified": "{created}",'
            f'{_P3}"sighting_of_ref": "{indicator_id}",{_P3}"spec_version": "2.1",{_P3}"type": "sighting",'
            f'{_P3}"where_sighted_refs": [{_P4}{_ID_REF}{_P3}]\n  }}')


class StixBundle:
    name = "stix"
    filename = "honeyguard.stix.json"
    description = "STIX 2.1 bundle: indicators with patterns, validity and confidence, and sightings"

    def write(self, decisions: Iterable[Decision], now: datetime, out: TextIO) -> None:
        # Patterns are checked in the order given (memory order, cheap to read) to count the indicators
        # before anything is written; the bundle is then built in one pass in the stable order.
        chosen = [d for d in in_force(decisions, now, actions=("drop", "alert")) if _has_pattern(d)]
        indicators = {d.indicator_id for d in chosen}
        count = 1 + 2 * len(indicators)  # the bundle id names the count
        identity = {"type": "identity", "spec_version": "2.1", "id": IDENTITY_ID, "created": stix_time(now),
                    "modified": stix_time(now), "name": "honeyguard", "identity_class": "system"}
        head = {"type": "bundle", "id": _stix_id("bundle", f"{now.isoformat()}|{count}")}
        write_document(out, head, "objects", _objects(identity, in_stable_order(chosen), indicators))
        out.write("\n")


def _has_pattern(d: Decision) -> bool:
    if d.type in ("ip", "cidr"):
        return network_of(d.value) is not None
    return d.type in ("domain", "url", "sha256", "md5")


def _objects(identity: dict[str, Any], chosen: list[Decision], pending: set[str]) -> Iterator[str]:
    """The identity, then an indicator and its sighting (one item of text) for the first decision of
    each indicator; ``chosen`` all have a pattern, ``pending`` holds the indicators not yet written."""
    yield dumps(identity, 2)
    for d in chosen:
        if d.indicator_id not in pending:
            continue
        pending.remove(d.indicator_id)
        pattern = pattern_for(d)
        if pattern is None:  # not reached: chosen by _has_pattern
            continue
        indicator_id = _stix_id("indicator", d.indicator_id)
        created = stix_time(d.created_at)
        yield f"{_indicator(d, pattern, indicator_id, created)},\n  {_sighting(d, indicator_id, created)}"


EXPORTERS = (StixBundle(),)
