"""``normalize.deobfuscate_shell`` for whole decoded layers: same output, far less scanning.

The rules apply ``deobfuscate_shell`` to one command line; IOC extraction applies it to every
layer of a payload, often a 2 KB JSON body with hundreds of quotes, where each of its three
regular expressions stops at every quote or brace (tens of us a layer). Each step here first
asks, with ``bytes`` methods, whether that step can change the text at all, and when it can
does exactly what the step does (tests compare the two on the whole corpus and on noise).
"""

from __future__ import annotations

import re

# the three steps of normalize.deobfuscate_shell, as written there
_SHELL_NOISE = re.compile(rb"\$\{IFS\}|\$IFS(?:\$\d)?|\$\{?@\}?|\$\d|''|\"\"|\\(?=[A-Za-z0-9/])")
_BACKSLASH = re.compile(rb"\\(?=[A-Za-z0-9/])")  # _SHELL_NOISE's last alternative
_INNER_QUOTES = re.compile(rb"['\"](?<=[A-Za-z0-9]['\"])(?=[A-Za-z0-9])")
_BRACED = re.compile(rb"\{([^{}\s]*+)\}")  # the words of normalize's _BRACE_LIST, of any length

_ALNUM = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# each byte as its class: a letter or digit 'a', a quote 'q', anything else '.'
_CLASSES = bytes(ord("a") if byte in _ALNUM else ord("q") if byte in b"'\"" else ord(".") for byte in range(256))
_WORD_GROUP_MAX, _REST_MAX = 200, 400  # _BRACE_LIST: \{([^{}\s]{1,200},[^{}\s]{0,400})\}


def deobfuscate_layer(line: bytes) -> bytes:
    """``normalize.deobfuscate_shell(line)``."""
    if not any(mark in line for mark in (b"$", b"'", b'"', b"\\", b"{")):
        return line
    line = _without_noise(line)
    if b"aqa" in line.translate(_CLASSES):  # a quote between two letters or digits: w'g'et
        line = _INNER_QUOTES.sub(b"", line)
    if b"{" not in line:
        return line
    return _brace_lists(line)


def _without_noise(line: bytes) -> bytes:
    if b"$" not in line and b"''" not in line:
        # left: '\\' before a letter, digit or '/', and JSON's empty strings. Apart, in this order,
        # they remove what the one pass removes: dropping such a '\\' never joins two quotes.
        if b"\\" in line:
            line = _BACKSLASH.sub(b"", line)
        return line.replace(b'""', b"")
    if b"IFS" in line:
        return _SHELL_NOISE.sub(lambda found: b" " if b"IFS" in found.group() else b"", line)
    return _SHELL_NOISE.sub(b"", line)


def _brace_lists(line: bytes) -> bytes:
    """``{wget,-q,http://x/a}`` -> ``wget -q http://x/a``: between '{' and '}', words without braces
    or spaces holding a ',' with 1 to 200 bytes before it and at most 400 after."""
    pieces: list[bytes] = []
    done = 0
    for braced in _BRACED.finditer(line):  # '{', no brace or space, '}': what a list can be
        words = braced.group(1)
        if words.find(b",", max(1, len(words) - 1 - _REST_MAX), min(_WORD_GROUP_MAX, len(words) - 1) + 1) >= 0:
            pieces.append(line[done : braced.start()])
            pieces.append(words.replace(b",", b" "))
            done = braced.end()
    if not pieces:
        return line
    pieces.append(line[done:])
    return b"".join(pieces)
