"""Which extractors and decoders can find anything in a text: one Hyperscan pass decides.

Most payload text holds no indicator at all; the regular expressions that pull indicators out
(``re``, backtracking) cost far more than one Hyperscan scan that says which of them to run.
The answer is an int, one bit a gate (the constants below are those bits). The native scan
(``_hsnative``, see detect/hsnative.py) gives that int without a Python call per match, about a
quarter of the pip binding's cost; the pip binding is the fallback, and without Hyperscan the
same gates are computed with ``in`` tests and one regex.
"""

from __future__ import annotations

import re
from typing import Any

from honeyguard.detect import hsnative

# one bit a gate: ``gates(text) & URL`` is true when the URL extractor can find anything
DOWNLOAD, SHELL, MINER, HASH, URL, IPV4, IMAGE, JNDI, BASE64, HEX, PERCENT, JSON_ESCAPE, SHELL_NOISE, NC = (
    1 << bit for bit in range(14)
)
#: not a gate: fields.looks_like_payload(text) (a header worth mining), answered by the same scan
PAYLOAD = 1 << 14
EXTRACTORS = PAYLOAD - 1  # every gate

_WORDS: dict[int, tuple[bytes, ...]] = {
    DOWNLOAD: (b"wget", b"curl", b"tftp", b"ftpget", b"fetch", b"lwp-download", b"lynx", b"aria2c"),
    SHELL: (b"/dev/tcp", b"/dev/udp", b"connect((", b"tcp:", b"tcp4:", b"tcp6:", b"tcp-connect:", b"ssl:", b"openssl"),
    NC: (b"nc ", b"ncat", b"netcat"),
    MINER: (
        b"xmr",
        b"stratum",
        b"miner",
        b"nicehash",
        b"pool",
        b"wallet",
        b"monero",
        b"cryptonight",
        b"randomx",
        b"--user",
        b"-u ",
    ),
    HASH: (b"sha256", b"sha1", b"md5", b"hash", b"checksum"),
    URL: (b"://",),
    IMAGE: (b'"image"',),
    JNDI: (b"${",),
    BASE64: (b"base64", b"b64", b"-enc", b"atob(", b"decode("),
    HEX: (b"\\x",),
    PERCENT: (b"%",),
    JSON_ESCAPE: (b"\\u", b'\\"', b"\\/"),
    SHELL_NOISE: (b"$", b"'", b'"', b"\\", b"{"),
}
_IPV4 = rb"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
_IPV4_RE = re.compile(_IPV4)
# fields._PAYLOAD, of which looks_like_payload is the fast form (a test holds the three equal)
_PAYLOAD = rb"\$\{|\(\)\s*\{|\$\(|`|\||wget|curl|/dev/|base64|jndi|<\?"
_PAYLOAD_RE = re.compile(_PAYLOAD, re.IGNORECASE)


def _expressions() -> tuple[list[bytes], list[int]]:
    """Each gate's words as literal expressions, the address shape and the payload markers; each
    with its bit's number as its id."""
    expressions: list[bytes] = []
    ids: list[int] = []
    for gate, words in _WORDS.items():
        for word in words:
            expressions.append(b"".join(b"\\x%02x" % c for c in word))
            ids.append(gate.bit_length() - 1)
    expressions += [_IPV4, _PAYLOAD]
    ids += [IPV4.bit_length() - 1, PAYLOAD.bit_length() - 1]
    return expressions, ids


def _build() -> Any:
    """The first scan library that compiles the gates: native, else pip; None without Hyperscan."""
    expressions, ids = _expressions()
    flags = [hsnative.CASELESS | hsnative.SINGLEMATCH] * len(expressions)
    for library in (hsnative.NATIVE, hsnative.PIP):
        if library is not None:
            try:
                return library.compile(expressions, ids, flags)
            except library.error:  # pragma: no cover - a CPU or build Hyperscan refuses
                continue
    return None


_DB = _build()
#: the scan in use: ``_DB.scan`` (bytes -> int), else the pure-Python gates
BACKEND = "hyperscan" if _DB is not None else "python"


def python_gates(text: bytes) -> int:
    """The gates without Hyperscan (and what the Hyperscan scan must agree with)."""
    found = 0
    lower = text.lower()
    for gate, words in _WORDS.items():
        if any(lower.find(word) >= 0 for word in words):
            found |= gate
    if _IPV4_RE.search(text):
        found |= IPV4
    if _PAYLOAD_RE.search(text):
        found |= PAYLOAD
    return found


#: ``gates(text)``: the gates open for ``text``, as bits (and PAYLOAD)
gates = _DB.scan if _DB is not None else python_gates
