"""STIX 2.1: a bundle of indicators (patterns, validity, confidence) and their sightings."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring_ascii as _json
from typing import Any, TextIO

from honeyguard.export.base import in_force, in_stable_order, is_plain_ipv4, network_of
from honeyguard.export.json_text import dumps, write_document
from honeyguard.model.decision import Decision

_NS = uuid.UUID("2f0c3c41-7d0a-5e8e-9b3a-4f6d1c2b8a90")
_NS_BYTES = _NS.bytes
IDENTITY_ID = "identity--" + str(uuid.UUID(bytes=uuid.uuid5(_NS, "identity|honeyguard").bytes, version=4))
_TYPES = {
    "scanner": "anomalous-activity",
    "bruteforcer": "malicious-activity",
    "exploiter": "malicious-activity",
    "c2": "malicious-activity",
    "callback": "malicious-activity",
    "malware-host": "malicious-activity",
    "download": "malicious-activity",
    "malware": "malicious-activity",
    "miner-pool": "malicious-activity",
    "proxy": "anonymization",
    "key-harvester": "malicious-activity",
    "key-user": "compromised",
}


_TWO = [f"{i:02d}" for i in range(60)]
_MILLIS = [f"{i:03d}" for i in range(1000)]


def stix_time(moment: datetime) -> str:
    """UTC time to the millisecond, e.g. 2026-06-01T12:00:00.000Z (tables: strftime costs 2 us a call)."""
    return (
        f"{moment.year}-{_TWO[moment.month]}-{_TWO[moment.day]}T{_TWO[moment.hour]}:{_TWO[moment.minute]}:"
        f"{_TWO[moment.second]}.{_MILLIS[moment.microsecond // 1000]}Z"
    )


def _stix_id(kind: str, key: str) -> str:
    """Deterministic (same input, same bytes) yet shaped as the UUIDv4 STIX recommends for SDOs:
    uuid5's hash with the version 4 bits, without building UUID objects (two per decision)."""
    return f"{kind}--" + _uuid_text(hashlib.sha1(_NS_BYTES + f"{kind}|{key}".encode()).hexdigest())


def _uuid_text(h: str) -> str:
    """A sha1 hex digest laid out as a version-4, RFC 4122 variant UUID."""
    return _ID_TEXT % (h[:8], h[8:12], h[13:16], _VARIANT[h[16]], h[17:20], h[20:32])


_VARIANT = {c: f"{int(c, 16) & 0x3 | 0x8:x}" for c in "0123456789abcdef"}  # RFC 4122 variant bits
_INDICATOR_SEED, _SIGHTING_SEED = _NS_BYTES + b"indicator|", _NS_BYTES + b"sighting|"
_ID_TEXT = "%s-%s-4%s-%s%s-%s"


def _pair_ids(indicator: str) -> tuple[str, str]:
    """_stix_id("indicator", indicator) and _stix_id("sighting", indicator), with one encode."""
    key = indicator.encode()
    return ("indicator--" + _uuid_text(hashlib.sha1(_INDICATOR_SEED + key).hexdigest()),
            "sighting--" + _uuid_text(hashlib.sha1(_SIGHTING_SEED + key).hexdigest()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def pattern_for(decision: Decision) -> str | None:
    value = decision.value
    if decision.type == "ip" and "/" not in value and ":" not in value:  # the usual case
        return f"[ipv4-addr:value = '{value}']" if is_plain_ipv4(value) else None
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


def _template(text: str) -> str:
    """A %-template from text whose literal parts are fixed: only the %s we put there are holes."""
    return text.replace("%", "%%").replace("\x00", "%s").replace("\x01", "%d")


# An indicator and its sighting as one %-template (one format call per decision). Holes, in order:
# confidence, created, description, external id, extra references, indicator id, indicator_types,
# labels, created, name, pattern, valid_from, valid_until; then the sighting's count, created,
# first_seen line, id, last_seen line, created, indicator id.
_H, _D = "\x00", "\x01"  # holes for text and for an int
_PAIR = _template(
    f'{{{_P3}"confidence": {_D},{_P3}"created": "{_H}",{_P3}"created_by_ref": {_ID_REF},'
    f'{_P3}"description": {_H},{_P3}"external_references": [{_P4}{{{_P5}"external_id": {_H},'
    f'{_P5}"source_name": "honeyguard"{_P4}}}{_H}{_P3}],{_P3}"id": "{_H}",{_P3}"indicator_types": {_H},'
    f'{_P3}"labels": {_H},{_P3}"modified": "{_H}",{_P3}"name": {_H},{_P3}"pattern": {_H},'
    f'{_P3}"pattern_type": "stix",{_P3}"spec_version": "2.1",{_P3}"type": "indicator",'
    f'{_P3}"valid_from": "{_H}",{_P3}"valid_until": "{_H}"\n  }},\n  '
    f'{{{_P3}"count": {_D},{_P3}"created": "{_H}",{_P3}"created_by_ref": {_ID_REF},{_H}'
    f'{_P3}"id": "{_H}",{_H}{_P3}"modified": "{_H}",{_P3}"sighting_of_ref": "{_H}",{_P3}"spec_version": "2.1",'
    f'{_P3}"type": "sighting",{_P3}"where_sighted_refs": [{_P4}{_ID_REF}{_P3}]\n  }}'
)
_DESCRIPTIONS = {action: _json(f"honeyguard {action}") for action in ("drop", "alert", "none")}
_TIME_CACHE_SIZE = 4096  # distinct times kept as text; real exports repeat a few (batch creation, expiry)


class _TimeTexts(dict[datetime, str]):
    """stix_time of UTC datetimes, remembered: ``texts.get(m) or texts.text(m)``.

    Only datetimes whose tzinfo is UTC are kept: equal datetimes in other zones compare equal
    but are written with their own fields."""

    def text(self, moment: datetime) -> str:
        text = stix_time(moment)
        if moment.tzinfo is UTC:
            if len(self) >= _TIME_CACHE_SIZE:
                self.clear()
            self[moment] = text
        return text


def _pattern_and_name(d: Decision) -> tuple[str, str] | None:
    """The indicator's pattern and name as JSON strings, or None when ``d`` has no pattern."""
    value = d.value
    if d.type == "ip" and "/" not in value and ":" not in value:  # the usual case: nothing to escape
        return (f"\"[ipv4-addr:value = '{value}']\"", f'"ip {value}"') if is_plain_ipv4(value) else None
    pattern = pattern_for(d)
    return None if pattern is None else (_json(pattern), _json(f"{d.type} {value}"[:250]))


def _pair(d: Decision, pattern: str, name: str, times: _TimeTexts) -> str:
    """The indicator and sighting of ``d`` as JSON text (two items of the bundle's objects);
    ``pattern`` and ``name`` are JSON strings already."""
    indicator_id, sighting_id = _pair_ids(d.indicator_id)
    created = times.get(d.created_at) or times.text(d.created_at)
    valid_until = times.get(d.expires_at) or times.text(d.expires_at)
    valid_from = created
    if d.first_seen is not None:
        valid_from = times.get(d.first_seen) or times.text(d.first_seen)
        if valid_until <= valid_from:
            valid_from = created
    references = "".join("," + _P4 + _reference("cve", c) for c in sorted(d.cves)) if d.cves else ""
    first = last = ""
    if d.first_seen and d.last_seen:
        first = f'{_P3}"first_seen": "{stix_time(d.first_seen)}",'
        last = f'{_P3}"last_seen": "{stix_time(d.last_seen)}",'
    types, labels = _role_lists(tuple(d.roles))
    description = _json(d.reason) if d.reason else _DESCRIPTIONS.get(d.action) or _json(f"honeyguard {d.action}")
    return _PAIR % (
        d.confidence,
        created,
        description,
        _json(d.indicator_id),
        references,
        indicator_id,
        types,
        labels,
        created,
        name,
        pattern,
        valid_from,
        valid_until,
        min(max(d.sightings, 1), 999_999_999),
        created,
        first,
        sighting_id,
        last,
        created,
        indicator_id,
    )


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
        identity = {
            "type": "identity",
            "spec_version": "2.1",
            "id": IDENTITY_ID,
            "created": stix_time(now),
            "modified": stix_time(now),
            "name": "honeyguard",
            "identity_class": "system",
        }
        head = {"type": "bundle", "id": _stix_id("bundle", f"{now.isoformat()}|{count}")}
        if len(indicators) == len(chosen):  # the usual case: each decision is its indicator's only one
            indicators.clear()
            write_document(out, head, "objects", _objects(identity, in_stable_order(chosen), None))
        else:
            write_document(out, head, "objects", _objects(identity, in_stable_order(chosen), indicators))
        out.write("\n")


def _has_pattern(d: Decision) -> bool:
    if d.type == "ip" and "/" not in d.value and ":" not in d.value:
        return is_plain_ipv4(d.value)
    if d.type in ("ip", "cidr"):
        return network_of(d.value) is not None
    return d.type in ("domain", "url", "sha256", "md5")


def _objects(identity: dict[str, Any], chosen: list[Decision], pending: set[str] | None) -> Iterator[str]:
    """The identity, then an indicator and its sighting for the first decision of each indicator,
    joined a thousand pairs to an item (fewer, larger writes); ``chosen`` all have a pattern,
    ``pending`` holds the indicators not yet written (None: every decision is the first of its own)."""
    yield dumps(identity, 2)
    times = _TimeTexts()
    batch: list[str] = []
    for d in chosen:
        if pending is not None:
            if d.indicator_id not in pending:
                continue
            pending.remove(d.indicator_id)
        texts = _pattern_and_name(d)
        if texts is None:  # not reached: chosen by _has_pattern
            continue
        batch.append(_pair(d, *texts, times))
        if len(batch) >= 1000:
            yield ",\n  ".join(batch)
            batch.clear()
    if batch:
        yield ",\n  ".join(batch)


EXPORTERS = (StixBundle(),)
