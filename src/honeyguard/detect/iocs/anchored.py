"""``findall`` for the extractors' widest regexes, tried only where a match can start.

``re`` has no literal to skip to in ``\\b(?:https?|ftp|...)://`` or ``(?<![\\d.])\\d...``: it tries
the pattern at every byte, and each layer of a 2 KB Docker body is scanned by several of them.
Every match of these patterns holds a short literal at a bounded distance from its start
(``://`` after the scheme, the first ``.`` of an address, the tool's name), so ``bytes.find``
jumps to the next such literal and the pattern is tried only at the few starts that can reach
it. Each scan returns exactly what ``findall`` returns: same matches, same order (the search
state sees the whole text, so ``\\b`` and look-behinds still look before the start tried).

These are the fallback: where the C extension ``_iocscan`` is built, ``urls``, ``ipv4s`` and
``download_commands`` are its scans (one pass in C, no Python call a match tried), which the
tests hold to the same answers as these and as ``re``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import TypeVar

from honeyguard.detect.iocs import patterns as P

#: a download command: (the whole match, the tool's name lower-cased, its arguments), from the
#: groups of P.DOWNLOAD_CMD
Command = tuple[bytes, bytes, bytes]
_F = TypeVar("_F", bound=Callable[..., object])

_LONGEST_SCHEME = 12  # 'stratum2+tcp'
_DIGITS = b"0123456789"
_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SCHEME_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"
#: the byte before a run of scheme bytes, as a slice, when it is itself a word byte ('_'): no
#: boundary there (the empty slice, the text's start, and every other byte are boundaries)
_SCHEME_RUN_BEFORE = (b"_",)
_TOOLS = (b"wget", b"curl", b"tftp", b"ftpget", b"fetch", b"lwp-download", b"lynx", b"aria2c", b"busybox")


def py_urls(text: bytes) -> list[bytes]:
    """``P.URL.findall(text)``."""
    out: list[bytes] = []
    pos = 0
    find, match = text.find, P.URL.match
    while (mark := find(b"://", pos)) >= 0:
        found = None
        if mark > pos and text[mark - 1] in _LETTERS:  # every scheme ends with a letter
            for start in _scheme_starts(text, max(pos, mark - _LONGEST_SCHEME), mark):
                found = match(text, start)
                if found is not None:
                    break
        if found is None:
            pos = mark + 1  # no match starts at or before this '://' (its scheme would end here)
            continue
        out.append(found.group())
        pos = found.end()
    return out


def _scheme_starts(text: bytes, low: int, mark: int) -> list[int]:
    """Where in ``[low, mark)`` a scheme ending at ``mark`` can start: ``\\b`` must hold there, and a
    scheme is letters, digits and '+' (starting with a letter). Inside a run of those bytes only
    a start right after a '+' has a word boundary, so the pattern is tried there and at the run's
    start, not at every byte."""
    window = text[low:mark]
    start = mark - (len(window) - len(window.rstrip(_SCHEME_BYTES)))  # back over the run (rstrip: a C loop)
    starts = [start] if start < mark and text[start - 1 : start] not in _SCHEME_RUN_BEFORE else []
    plus = text.find(b"+", start, mark)
    while plus >= 0:
        starts.append(plus + 1)
        plus = text.find(b"+", plus + 1, mark)
    return starts


def py_ipv4s(text: bytes) -> list[bytes]:
    """``P.IPV4.findall(text)``: an address starts one to three digits before its first '.', and
    after neither a digit nor a '.' (its look-behind): only the start of the digits before a '.'
    is tried."""
    out: list[bytes] = []
    pos = 0
    find, match = text.find, P.IPV4.match
    while (dot := find(b".", pos)) >= 0:
        found = None
        before = text[max(0, dot - 4) : dot]  # a run of four digits or more cannot start an octet
        start = dot - (len(before) - len(before.rstrip(_DIGITS)))
        if start < dot and start >= pos and dot - start <= 3:
            found = match(text, start)
        if found is None:
            pos = dot + 1
            continue
        out.append(found.group())
        pos = found.end()
    return out


def py_download_commands(text: bytes) -> list[Command]:
    """(match, group 1 lower-cased, group 2) of each ``P.DOWNLOAD_CMD.finditer(text)``: a match
    starts at a tool's name."""
    lower = text.lower()  # (same offsets)
    starts: list[int] = []
    for tool in _TOOLS:
        at = lower.find(tool)
        while at >= 0:
            starts.append(at)
            at = lower.find(tool, at + 1)
    starts.sort()  # no two tools start at the same byte
    out: list[Command] = []
    end = 0
    match = P.DOWNLOAD_CMD.match
    for start in starts:
        if start < end:
            continue
        found = match(text, start)
        if found is not None:
            out.append((found.group(), found.group(1).lower(), found.group(2)))
            end = found.end()
    return out


_native: ModuleType | None
try:
    _native = importlib.import_module("honeyguard.detect.iocs._iocscan")
except ImportError:  # built without a C compiler: the scans above do the work
    _native = None

NATIVE_AVAILABLE = _native is not None


def native(name: str, fallback: _F) -> _F:
    """The extension's function ``name`` where it is built, else ``fallback`` (its Python twin;
    also for an extension built from an older source that lacks it)."""
    found: _F = getattr(_native, name, fallback)
    return found


#: ``P.URL.findall(text)``
urls = native("urls", py_urls)
#: ``P.IPV4.findall(text)``
ipv4s = native("ipv4s", py_ipv4s)
#: (match, group 1 lower-cased, group 2) of each ``P.DOWNLOAD_CMD.finditer(text)``
download_commands = native("download_commands", py_download_commands)
