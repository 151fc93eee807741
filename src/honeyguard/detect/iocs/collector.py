"""Where the extractors put what they find: one table a subject, each IOC with its strongest role.

A role only ever moves up (``ROLE_RANK``) and a full table stays full, so a URL or host met again
with a role of no higher rank changes nothing and is not parsed again. What a URL or a host name
is (its parts; an address, a domain, a pool) depends on its bytes alone, and droppers repeat
their hosts across requests that differ elsewhere: both are memoised, bounded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from honeyguard.detect.iocs import anchored
from honeyguard.detect.iocs import patterns as P
from honeyguard.detect.iocs.downloads import MEMO_SIZE
from honeyguard.detect.iocs.hosts import NOT_IP, ROUTABLE, ip_kind, is_domain, pool_role
from honeyguard.model import Ioc
from honeyguard.model.event import IocRole

MAX_IOCS = 64
ROLE_RANK: dict[str, int] = {"unknown": 0, "download": 2, "miner-pool": 3, "exfil": 3, "callback": 4, "c2": 4}
_ROLES: dict[str, IocRole] = {
    "unknown": "unknown",
    "download": "download",
    "miner-pool": "miner-pool",
    "exfil": "exfil",
    "callback": "callback",
    "c2": "c2",
}
BENIGN_SUFFIXES = (
    "w3.org",
    "xmlsoap.org",
    "openxmlformats.org",
    "schemas.microsoft.com",
    "purl.org",
    "java.sun.com",
    "springframework.org",
    "apache.org",
)
_IP, _DOMAIN = "ip", "domain"


class Collector:
    __slots__ = ("_host_ranks", "_url_ranks", "found", "ignore", "limit", "plus_is_space", "seen")

    def __init__(self, ignore: frozenset[str], limit: int) -> None:
        self.found: dict[tuple[str, str], str] = {}
        self.ignore = ignore
        self.limit = limit
        self.plus_is_space = False  # mining form-encoded text as sent: '+' ends a URL
        self.seen: set[tuple[object, ...]] = set()  # (text, what mines it, plus_is_space) mined already
        # the layers of one payload repeat each other, and the same URL or host is met by several
        # extractors: met again with a role of no higher rank, every add it makes is a no-op (a
        # role only ever moves up, and a full table stays full), so its parsing is skipped
        self._host_ranks: dict[tuple[bytes, bytes | None], int] = {}
        self._url_ranks: dict[tuple[bytes, bool], int] = {}

    def first_time(self, kind: str, text: bytes) -> bool:
        """True the first time ``text`` is mined by ``kind``: the collector's calls for a piece
        already mined would all be no-ops."""
        key = (kind, text, self.plus_is_space)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def add(self, kind: str, value: str, role: str) -> None:
        if not value or value.lower() in self.ignore:
            return
        key = (kind, value)
        old = self.found.get(key)
        if old is None:
            if len(self.found) < self.limit:
                self.found[key] = role
        elif ROLE_RANK[role] > ROLE_RANK[old]:
            self.found[key] = role

    def host(self, host: bytes, port: bytes | None, role: str) -> None:
        rank, seen = ROLE_RANK[role], (host, port)
        if self._host_ranks.get(seen, -1) >= rank:
            return
        self._host_ranks[seen] = rank
        name, kind, pool, benign = host_class(host)
        if kind is _IP:
            self.add("ip", name, role)
        elif kind is _DOMAIN:
            if benign and role == "unknown":
                return
            self.add("domain", name, "miner-pool" if pool else role)
        else:
            return
        if port and name not in self.ignore and 0 < int(port) < 65536:  # (name is lower-cased)
            self.add("port", str(int(port)), role)

    def url(self, url: bytes, role: str) -> None:
        # a URL without '+' reads the same whichever way '+' is taken: one memo entry for both
        cut = self.plus_is_space and b"+"[0] in url
        rank, seen = ROLE_RANK[role], (url, cut)
        if self._url_ranks.get(seen, -1) >= rank:
            return
        self._url_ranks[seen] = rank
        parsed = _parsed_url(url.split(b"+", 1)[0] if cut else url)
        if parsed is None:
            return
        text, stratum, host, port, name = parsed
        if stratum:
            role = "miner-pool"
        if name in self.ignore:
            return
        if role == "unknown" and name.endswith(BENIGN_SUFFIXES):
            return
        self.add("url", text, role)
        self.host(host, port, role)

    def iocs(self) -> list[Ioc]:
        return [Ioc(type=kind, value=value, role=_ROLES[role]) for (kind, value), role in self.found.items()]


@functools.lru_cache(maxsize=4096)
def host_class(host: bytes) -> tuple[str, str | None, bool, bool]:
    """(the host's name lower-cased, ``ip`` for a routable address, ``domain`` for a domain name
    or None for neither, whether the domain is a mining pool's, whether it is a benign schema
    host). Memoised: bounded, pure, a host is at most about 600 bytes (P.HOST)."""
    name = host.decode("latin-1").strip("[]").rstrip(".").lower()
    kind = ip_kind(name)
    if kind is not NOT_IP:
        return name, _IP if kind is ROUTABLE else None, False, False
    if is_domain(name):
        return name, _DOMAIN, pool_role(name, "unknown") == "miner-pool", name.endswith(BENIGN_SUFFIXES)
    return name, None, False, False


_ParsedUrl = tuple[str, bool, bytes, bytes | None, str]


@functools.lru_cache(maxsize=MEMO_SIZE)  # (sized as download_ops' memo, for the same reason)
def _parsed_url(url: bytes) -> _ParsedUrl | None:
    """``parse_url(url)``. Dropper URLs repeat across requests that differ elsewhere: memoised
    (bounded, pure; a URL is at most about 2 KB)."""
    return parse_url(url)


def py_parse_url(url: bytes) -> _ParsedUrl | None:
    """``url`` without trailing punctuation, as text; whether its scheme is stratum; its host, port
    and host name lower-cased; None when it has no host."""
    url = url.rstrip(b".,:'\")")
    parts = url_parts(url)
    if parts is None:
        return None
    scheme, host, port = parts
    return (url.decode("latin-1"), scheme.lower().startswith(b"stratum"), host, port, host.decode("latin-1").lower())


def py_url_parts(url: bytes) -> tuple[bytes, bytes, bytes | None] | None:
    """``P.URL_PARTS.match(url).groups()``, or None: (scheme, host, port)."""
    # no '@': the user-info group cannot match, and a pattern without it backtracks less
    parts = (P.URL_PARTS if b"@"[0] in url else P.URL_PARTS_NO_USERINFO).match(url)
    if parts is None:
        return None
    scheme, host, port = parts.groups()
    return scheme, host, port


# in C where the extension is built (one call, no regex; the tests hold them to the Python ones)
url_parts: Callable[[bytes], tuple[bytes, bytes, bytes | None] | None] = anchored.native("url_parts", py_url_parts)
parse_url: Callable[[bytes], _ParsedUrl | None] = anchored.native("parse_url", py_parse_url)


@functools.lru_cache(maxsize=256)
def own_names(host: bytes) -> frozenset[str]:
    """The victim's own name (its Host header) with and without the port: never an IOC. A sensor
    answers under a few names: memoised."""
    own = host.decode("latin-1").strip().lower()
    return frozenset({own, own.rsplit(":", 1)[0].strip("[]")} - {""})
