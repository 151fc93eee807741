"""Find the infrastructure a payload reveals, and the part each piece plays.

Roles: ``download`` (where a dropper fetches from), ``callback`` (JNDI/LDAP/RMI/DNS lookups the
exploit makes the victim perform), ``c2`` (reverse-shell targets), ``miner-pool`` (stratum
pools, known pool domains, and the wallets mining to them), ``exfil`` (where data is sent:
``curl -d @file``, ``$(whoami)`` in a callback host, a file piped into ``nc``), ``unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from honeyguard.detect.iocs import gates as G
from honeyguard.detect.iocs import patterns as P
from honeyguard.detect.iocs.anchored import download_commands, ipv4s, urls
from honeyguard.detect.iocs.collector import MAX_IOCS, Collector, own_names
from honeyguard.detect.iocs.downloads import Op, download_ops
from honeyguard.detect.iocs.hosts import host_like
from honeyguard.detect.iocs.layers import layers
from honeyguard.detect.iocs.native_jobs import run_jobs as run_jobs  # (swapped out by the tests)
from honeyguard.model import Ioc
from honeyguard.model.event import IocRole

STAGE_BYTES = 64 * 1024  # payload text staged at once by extract_many
_LOOKUP = re.compile(rb"\$\{[^{}]{0,256}\}")
_DOCKER_IMAGE = re.compile(rb"\"Image\"\s*:\s*\"([^\"\s]{1,256})\"")
_WHITESPACE = re.compile(rb"\s")
_HASH_CONTEXT = re.compile(rb"(?:sha256|sha1|md5|hash|checksum)[\"':= ]{0,4}$", re.I)


class Job(NamedTuple):
    """One subject's extraction: its payload texts, its own Host, the IOC limit, known endpoints."""

    texts: Sequence[bytes]
    host: bytes = b""
    limit: int = MAX_IOCS
    endpoints: Sequence[tuple[bytes, bytes, IocRole]] = ()


def extract_iocs(
    texts: Iterable[bytes],
    *,
    host: bytes = b"",
    limit: int = MAX_IOCS,
    endpoints: Iterable[tuple[bytes, bytes, IocRole]] = (),
) -> list[Ioc]:
    """IOCs in ``texts`` and in every decoding of them; ``host`` (the victim's own name) is left out.

    ``endpoints`` are (host, port, role) the caller already knows the part of (a Redis rogue
    master): each gives its host and port, and ``endpoint`` ``host:port``, with that role.
    """
    return extract_many([Job(tuple(texts), host, limit, tuple(endpoints))])[0]


def extract_many(jobs: Sequence[Job]) -> list[list[Ioc]]:
    """``extract_iocs`` of each job, in order: first every text's layers (decodings, gate scans,
    download commands) over a stretch of the batch, then each job's extractors, so each stage runs
    with its code and tables warm. A stretch holds at most STAGE_BYTES of text (or one job), which bounds
    the layers kept at once.

    Where the C extension is built, ``run_jobs`` does each job whose layers open only the download,
    URL and address extractors end to end (most dropper command lines); the others run here."""
    if run_jobs is None:
        return _python_many(jobs)
    found = run_jobs(jobs)
    missing = [i for i, iocs in enumerate(found) if iocs is None]
    if missing:
        for i, iocs in zip(missing, _python_many([jobs[i] for i in missing]), strict=True):
            found[i] = iocs
    return found  # type: ignore[return-value]  # (no None is left)


def _python_many(jobs: Sequence[Job]) -> list[list[Ioc]]:
    out: list[list[Ioc]] = []
    start = 0
    while start < len(jobs):
        end, size = start, 0
        while end < len(jobs) and (end == start or size < STAGE_BYTES):
            size += sum(map(len, jobs[end].texts))
            end += 1
        stretch = jobs[start:end]
        layered = [[_text_layers(text) for text in job.texts if text] for job in stretch]
        out += [_collect(job, text_layers) for job, text_layers in zip(stretch, layered, strict=True)]
        start = end
    return out


#: a download command's text, and what it fetches (downloads.download_ops)
_Commands = list[tuple[bytes, tuple[Op, ...]]]
#: a layer, its open gates, and its download commands
_Layer = tuple[bytes, int, _Commands]
_TextLayers = tuple[list[_Layer], list[_Layer], bool]


def _text_layers(text: bytes) -> _TextLayers:
    """(the layers of ``text`` read with '+' as a space, those of ``text`` as sent, whether it is
    '+'-encoded). Form and query encoding: '+' is a space (busybox+wget+http://x/m+-O+/tmp/m), and
    such text has no raw whitespace; it is mined decoded, then as sent (base64 keeps its '+')."""
    # (an int or find, not 'bytes in bytes': that raises and clears a TypeError inside CPython 3.11)
    plus_encoded = b"+"[0] in text and _WHITESPACE.search(text) is None
    return (_with_commands(text.replace(b"+", b" ")) if plus_encoded else [], _with_commands(text), plus_encoded)


def _with_commands(text: bytes) -> list[_Layer]:
    """The layers of ``text``, each with its download commands parsed: the heaviest extractor's
    parsing runs in the layer stage (pure, it needs no collector), which saves a tenth of the
    extraction of a batch of droppers."""
    out: list[_Layer] = []
    for layer, open_gates in layers(text):
        if open_gates & G.DOWNLOAD:
            commands = [(command, download_ops(tool, args)) for command, tool, args in download_commands(layer)]
        else:
            commands = []
        out.append((layer, open_gates, commands))
    return out


def _collect(job: Job, text_layers: list[_TextLayers]) -> list[Ioc]:
    found = Collector(own_names(job.host), job.limit)
    for peer, port, role in job.endpoints:
        _endpoint(peer, port, role, found)
    for decoded, sent, plus_encoded in text_layers:
        for layer in decoded:
            _extract_layer(layer, found)
        found.plus_is_space = plus_encoded
        for layer in sent:
            _extract_layer(layer, found)
        found.plus_is_space = False
    return found.iocs()


def _endpoint(peer: bytes, port: bytes, role: str, found: Collector) -> None:
    port = port if port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536 else b""
    before = len(found.found)
    found.host(peer, port or None, role)
    if len(found.found) > before and port:  # the host was kept (routable, a real name)
        name = peer.decode("latin-1").strip("[]").rstrip(".").lower()
        shown = f"[{name}]" if ":" in name else name
        found.add("endpoint", f"{shown}:{int(port)}", role)


def _extract_layer(layer: _Layer, found: Collector) -> None:
    """Each extractor runs only when its gate is open (one Hyperscan pass decided)."""
    text, open_gates, commands = layer
    if not found.first_time("layer", text):  # another text of the subject decoded to this one
        return
    if open_gates & G.JNDI:
        _jndi(text, found)
    if open_gates & _SHELLS:
        _reverse_shells(text, text.lower(), found)
    if commands:
        _downloads(commands, found)
    if open_gates & G.MINER:
        _mining(text, text.lower(), found)
    if open_gates & G.URL:
        if b"_"[0] in text and text.lower().find(b"swp_url") >= 0:
            for url in P.FETCH_PARAM.findall(text):  # before 'unknown': a fetched URL is a download
                found.url(url, "download")
        for url in urls(text):
            found.url(url, "unknown")
    if open_gates & G.IPV4:
        for ip in ipv4s(text):
            found.host(ip, None, "unknown")
    if open_gates & G.IMAGE:
        for image in _DOCKER_IMAGE.findall(text):
            found.add("container-image", image.decode("latin-1"), "download")
    if open_gates & G.HASH:
        for hashed in P.HASH.finditer(text):
            if _HASH_CONTEXT.search(text, max(0, hashed.start() - 12), hashed.start()):
                value = hashed.group().decode("latin-1").lower()
                found.add({32: "md5", 40: "sha1", 64: "sha256"}[len(value)], value, "unknown")


_SHELLS = G.SHELL | G.NC


def _downloads(commands: _Commands, found: Collector) -> None:
    for command, ops in commands:
        if not found.first_time("download", command):  # the same command in another layer
            continue
        for is_url, where, port, role in ops:
            if is_url:
                found.url(where, role)
            else:
                found.host(where, port, role)


def _jndi(text: bytes, found: Collector) -> None:
    if text.find(b"${") < 0:
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
    return text[start : start + 1024]


def _reverse_shells(text: bytes, lower: bytes, found: Collector) -> None:
    for regex, mark in ((P.DEV_TCP, b"/dev/"), (P.SOCAT, b":"), (P.PY_CONNECT, b"connect((")):
        if lower.find(mark) >= 0:
            for host, port in regex.findall(text):
                found.host(host, port, "c2")
    if lower.find(b"nc ") < 0 and lower.find(b"ncat") < 0 and lower.find(b"netcat") < 0:
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


# each byte as 'a' (a letter or digit) or ' '
_ALNUM_CLASSES = bytes(ord("a") if chr(b).isascii() and chr(b).isalnum() else ord(" ") for b in range(256))
# P.MINER_CONTEXT's alternatives that are plain words (re.I on bytes folds ASCII case, as lower() does)
_MINER_LITERALS = (
    b"xmrig",
    b"xmr-stak",
    b"stratum",
    b"minerd",
    b"cpuminer",
    b"nicehash",
    b"--donate-level",
    b"wallet",
    b"monero",
    b"cryptonight",
    b"randomx",
    b"--user=",
    b"--user ",
)
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_")  # \b's word bytes, lower-cased
_SPACE_BYTES = frozenset(b" \t\n\r\x0b\x0c")  # \s in a bytes pattern


def speaks_of_mining(lower: bytes) -> bool:
    """``P.MINER_CONTEXT.search(text) is not None``, from the lower-cased text, by ``find``: the
    regex tries its fourteen alternatives at every byte (``\\bpool`` keeps the engine from skipping
    ahead by first byte), about 0.5 ms for a 7 KB Docker API body that holds none of them."""
    if any(lower.find(word) >= 0 for word in _MINER_LITERALS):
        return True
    return _word_found(lower, b"pool") or _followed_by_space(lower, b"-u")


def _word_found(lower: bytes, word: bytes) -> bool:
    """Whether ``\\bword\\b`` matches: ``word`` with no word byte on either side."""
    at = lower.find(word)
    while at >= 0:
        end = at + len(word)
        if (at == 0 or lower[at - 1] not in _WORD_BYTES) and (end == len(lower) or lower[end] not in _WORD_BYTES):
            return True
        at = lower.find(word, at + 1)
    return False


def _followed_by_space(lower: bytes, word: bytes) -> bool:
    """Whether ``word\\s`` matches."""
    at = lower.find(word)
    while at >= 0:
        end = at + len(word)
        if end < len(lower) and lower[end] in _SPACE_BYTES:
            return True
        at = lower.find(word, at + 1)
    return False


def _mining(text: bytes, lower: bytes, found: Collector) -> None:
    """Wallets and pools, only where the text speaks of mining (a wallet alone is rarely one).

    Each regex (tried at every byte) runs only when the text holds what its match needs: a run of
    letters and digits as long as the wallet, 'bc1', '0x', '-o' or '--url'."""
    if not speaks_of_mining(lower):
        return
    runs = text.translate(_ALNUM_CLASSES)
    if b"a" * 95 in runs:
        for wallet in P.MONERO.findall(text):
            found.add("wallet", wallet.decode("latin-1"), "miner-pool")
    if text.find(b"bc1") >= 0:
        for wallet in P.BITCOIN_BECH32.findall(text):
            found.add("wallet", wallet.decode("latin-1"), "miner-pool")
    if lower.find(b"-o") >= 0 or lower.find(b"--url") >= 0:
        for host, port in P.STRATUM_HOSTPORT.findall(text):
            found.host(host, port, "miner-pool")
    for regex, needs in ((P.BITCOIN_LEGACY, b"a" * 26 in runs), (P.ETHEREUM, b"0x" in text)):
        for wallet in regex.findall(text) if needs else ():
            found.add("wallet", wallet.decode("latin-1"), "miner-pool")
