"""Peel the encodings off a payload: URL-encoding, shell quoting, ``\\xHH`` escapes, base64.

``layers(text)`` returns the text and every distinct decoding of it, breadth first, bounded in
depth, count and total size, so a crafted payload cannot make extraction expensive. Base64 is
decoded only where something in the payload decodes it (``base64 -d``, ``/Base64/``, ``atob(``):
a blob that nothing decodes is not executed, and ordinary JSON and form bodies stay cheap.
"""

from __future__ import annotations

import binascii
import re

from honeyguard.detect.iocs.gates import BASE64, HEX, JNDI, JSON_ESCAPE, PERCENT, SHELL_NOISE, gates
from honeyguard.detect.normalize import decode_repeated, deobfuscate_shell, resolve_log4j_lookups, unescape_json

MAX_DEPTH = 3
MAX_LAYERS = 24
MAX_TOTAL_BYTES = 512 * 1024
MAX_TEXT_BYTES = 64 * 1024

_HEX_RUN = re.compile(rb"(?:\\x[0-9a-fA-F]{2}){4,}")
_BASE64 = re.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")  # what _base64_tokens finds, by other means
_BASE64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_BASE64_CLASSES = bytes(ord("a") if b in _BASE64_CHARS else ord(" ") for b in range(256))  # 'a': base64
_BASE64_RUN = b"a" * 16
MAX_TOKENS = 16
_PRINTABLE = b"\t\n\r" + bytes(range(0x20, 0x7F))
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_DECODERS = PERCENT | JNDI | JSON_ESCAPE | SHELL_NOISE | HEX | BASE64  # the gates _decodings reads


def layers(text: bytes) -> list[tuple[bytes, int]]:
    """``text`` and its decodings (each a new layer, itself decoded up to MAX_DEPTH), with the
    gates (see gates.py) open for each, as bits."""
    text = text[:MAX_TEXT_BYTES]
    first = (text, gates(text))
    out = [first]
    if not first[1] & _DECODERS:
        return out  # nothing decodes it (a plain command line, most payloads)
    seen = {text}
    frontier = [first]
    total = len(text)
    tokens: dict[bytes, bytes | None] = {}  # base64 token -> its text: the layers repeat their tokens
    for _ in range(MAX_DEPTH):
        next_frontier: list[tuple[bytes, int]] = []
        for layer, open_gates in frontier:
            for decoded in _decodings(layer, open_gates, tokens):
                if decoded in seen or len(out) >= MAX_LAYERS or total + len(decoded) > MAX_TOTAL_BYTES:
                    continue
                seen.add(decoded)
                item = (decoded, gates(decoded))
                out.append(item)
                next_frontier.append(item)
                total += len(decoded)
        if not next_frontier:
            break
        frontier = next_frontier
    return out


def _decodings(layer: bytes, open_gates: int, tokens: dict[bytes, bytes | None]) -> list[bytes]:
    found = []
    if open_gates & PERCENT or open_gates & JNDI:
        url = resolve_log4j_lookups(decode_repeated(layer))
        if url != layer:
            found.append(url)
    if open_gates & JSON_ESCAPE:
        unescaped = unescape_json(layer)
        if unescaped != layer:
            found.append(unescaped)
    if open_gates & SHELL_NOISE:
        shell = deobfuscate_shell(layer)
        if shell != layer:
            found.append(shell)
    if open_gates & HEX:
        unhexed = _HEX_RUN.sub(lambda m: binascii.unhexlify(m.group().replace(b"\\x", b"")), layer)
        if unhexed != layer:
            found.append(unhexed)
    if open_gates & BASE64:
        found.extend(_base64_texts(layer, tokens))
    return found


def _base64_texts(layer: bytes, tokens: dict[bytes, bytes | None]) -> list[bytes]:
    """Base64 tokens that decode to mostly printable text (commands, URLs), not to noise.

    ``tokens`` remembers each token's text (or None) for the other layers of the same payload."""
    out = []
    for token in _base64_tokens(layer):
        if token in tokens:
            text = tokens[token]
        else:
            text = tokens[token] = _token_text(token)
        if text is not None:
            out.append(text)
    return out


def _base64_tokens(layer: bytes) -> list[bytes]:
    """The first MAX_TOKENS matches of _BASE64: runs of 16 or more base64 characters and up to two
    '='. Found by ``bytes.find`` in the text mapped to classes: the regex tries every byte of a
    run, about 20 us for a 2 KB JSON body full of short words."""
    classes = layer.translate(_BASE64_CLASSES)
    out: list[bytes] = []
    start = classes.find(_BASE64_RUN)
    while start >= 0 and len(out) < MAX_TOKENS:
        end = classes.find(b" ", start)
        if end < 0:
            end = len(classes)
        elif layer[end] == 0x3D:  # '=' padding, at most two
            end += 2 if layer.startswith(b"==", end) else 1
        out.append(layer[start:end])
        start = classes.find(_BASE64_RUN, end)
    return out


def _token_text(token: bytes) -> bytes | None:
    # '/' is base64 and a path separator: .../Command/Base64/<b64> is tried part by part too
    for candidate in (token, *(part for part in token.split(b"/") if len(part) >= 16)):
        decoded = _b64decode(candidate)
        if decoded is not None and len(decoded) >= 8 and _mostly_printable(decoded):
            return decoded
    return None


def _b64decode(token: bytes) -> bytes | None:
    token = token.rstrip(b"=")
    token = token[: len(token) - len(token) % 4 if len(token) % 4 == 1 else len(token)]
    padded = token + b"=" * (-len(token) % 4)
    # what base64.urlsafe_b64decode and b64decode(validate=True) do, without their Python layers
    try:
        if b"-" in padded or b"_" in padded:
            return binascii.a2b_base64(padded.translate(_URLSAFE))
        return binascii.a2b_base64(padded, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def _mostly_printable(data: bytes) -> bool:
    unprintable = len(data.translate(None, _PRINTABLE))
    # four 'in' tests, not a generator: most tokens are words decoding to noise, tried per layer
    return unprintable <= 0.05 * len(data) and (b" " in data or b"/" in data or b"." in data or b":" in data)
