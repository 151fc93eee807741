"""Honeytoken AWS keys: realistic, distinct per response, and remembered so a later use names
the client that harvested it.

A key id is built the way AWS builds its own (see keyid.py): ``AKIA`` then RFC 4648 base32 of 10
bytes whose first 6 bytes carry bit 47 and the decoy account in bits 46..7, the rest random. So a
harvester who decodes the account (as public tools do) sees one plausible account, and our own
scanner decodes it too. The secret is 40 characters of the base64 alphabet, drawn until it passes
the scanner's own plausibility test (an attacker's tooling filters the same way).

The sensor never needs the state store: the issuer remembers what it served per session, and the
runtime stamps the key ids on that session's next event as ``Ioc(type="aws-access-key-id")``; the
collector learns from events which key went to whom (``harvests_from_events``).
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Iterable

import msgspec

from honeyguard.clock import Clock, Entropy, SystemClock, SystemEntropy
from honeyguard.creds import judge, keyid
from honeyguard.creds.honeytoken_files import is_bait, render_for_path
from honeyguard.model import Event, Ioc
from honeyguard.model.honeytoken import IssuedKey

IOC_TYPE = "aws-access-key-id"
DEFAULT_DECOY_ACCOUNT = "418295730164"  # not an AWS account of ours: a made-up, well-formed number
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_ACCOUNT = re.compile(r"^\d{12}$")
_MAX_PENDING_SESSIONS = 4096  # bounded: a session that never records another event cannot grow memory


class KeyPair(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    secret: str  # only in memory, only to render the file; the store keeps its hash

    @property
    def secret_sha256(self) -> str:
        return hashlib.sha256(self.secret.encode()).hexdigest()


class ServedFile(msgspec.Struct, frozen=True, kw_only=True):
    body: bytes
    content_type: str
    issued: IssuedKey


def new_key_id(account_id: str, entropy: Entropy, prefix: str = "AKIA") -> str:
    if not _ACCOUNT.match(account_id):
        raise ValueError(f"decoy account {account_id!r} is not 12 digits")
    candidate = ""
    for _ in range(64):  # bounded: an account such as 000000000001 always makes long runs of A
        head = (1 << 47) | (int(account_id) << 7) | entropy.randbits(7)
        raw = head.to_bytes(6, "big") + entropy.randbits(32).to_bytes(4, "big")
        candidate = prefix + base64.b32encode(raw).decode()
        if not judge.is_placeholder_key(candidate) and not judge.is_example_key(candidate):
            break
    return candidate


def new_secret(entropy: Entropy) -> str:
    while True:
        candidate = "".join(_B64[entropy.randbits(6)] for _ in range(40))
        if judge.is_plausible_secret(candidate):
            return candidate


def new_pair(account_id: str, entropy: Entropy) -> KeyPair:
    pair = KeyPair(key_id=new_key_id(account_id, entropy), secret=new_secret(entropy))
    assert keyid.account_id(pair.key_id) == account_id  # the format is the whole point
    return pair


class HoneytokenIssuer:
    """Serves credential files with a fresh key per response and remembers what went to whom.

    Thread-safe and bounded. ``take(session)`` hands the runtime the key ids served in a session
    since the last call, as IOCs for the session's next event.
    """

    def __init__(self, *, sensor: str, account_id: str = DEFAULT_DECOY_ACCOUNT,
                 entropy: Entropy | None = None, clock: Clock | None = None) -> None:
        if not _ACCOUNT.match(account_id):
            raise ValueError(f"decoy account {account_id!r} is not 12 digits")
        self.sensor = sensor
        self.account_id = account_id
        self._entropy = entropy or SystemEntropy()
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._pending: dict[str, list[str]] = {}
        self.issued: list[IssuedKey] = []  # the last few, for tests and the sensor's own log
        self._keep = 1000

    def content_for(self, path: str, *, session: str, src_ip: str, service: str = "http",
                    home: str = "/root") -> ServedFile | None:
        """The file to answer with for ``path``, with a new key; None when ``path`` is no bait."""
        if not is_bait(path):
            return None
        pair = new_pair(self.account_id, self._entropy)
        rendered = render_for_path(path, pair.key_id, pair.secret, self._entropy, home=home)
        if rendered is None:
            return None
        body, content_type = rendered
        issued = IssuedKey(key_id=pair.key_id, account_id=self.account_id, secret_sha256=pair.secret_sha256,
                           issued_at=self._clock.now(), sensor=self.sensor, session=session, src_ip=src_ip,
                           path=path, service=service)
        with self._lock:
            if session not in self._pending and len(self._pending) >= _MAX_PENDING_SESSIONS:
                self._pending.pop(next(iter(self._pending)))
            self._pending.setdefault(session, []).append(pair.key_id)
            self.issued.append(issued)
            del self.issued[:-self._keep]
        return ServedFile(body=body, content_type=content_type, issued=issued)

    def take(self, session: str) -> list[Ioc]:
        with self._lock:
            keys = self._pending.pop(session, [])
        return [Ioc(type=IOC_TYPE, value=k, role="unknown") for k in keys]

    def stamp(self, event: Event) -> Event:
        """Add the session's newly served key ids to ``event`` (the runtime calls this)."""
        iocs = self.take(event.session)
        if iocs:
            event.iocs = [*event.iocs, *iocs]
        return event


def harvests_from_events(events: Iterable[Event], *, paths: dict[str, str] | None = None) -> list[IssuedKey]:
    """What the collector learns from sensor events: each honeytoken key id, and the event, session,
    address and sensor it was served to (the first time it appears)."""
    seen: dict[str, IssuedKey] = {}
    for event in events:
        for ioc in event.iocs:
            if ioc.type != IOC_TYPE or ioc.value in seen or not keyid.is_well_formed(ioc.value):
                continue
            seen[ioc.value] = IssuedKey(
                key_id=ioc.value, account_id=keyid.account_id(ioc.value) or "", issued_at=event.ts,
                sensor=event.sensor, session=event.session, src_ip=event.src_ip,
                path=(paths or {}).get(ioc.value) or _path_of(event), service=event.protocol,
                event_id=event.id)
    return list(seen.values())


def _path_of(event: Event) -> str:
    target = getattr(event.body, "target", None)
    return str(target) if target else ""
