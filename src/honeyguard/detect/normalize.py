"""Undo the encodings attackers use to slip past signatures, before any rule looks at a field.

Everything works on ``bytes`` (a field is bytes viewed as latin-1 by the rules), so a byte that
is not valid UTF-8 never raises and case-insensitivity is ASCII-only, the same in Hyperscan and
in Python's ``re``. Every function here is total (never raises) and bounded: decoding loops stop
after a fixed number of rounds and lookup resolution after a fixed number of substitutions.
"""

from __future__ import annotations

import importlib
import re
from codecs import escape_decode
from types import ModuleType

#: (A byte's membership is tested with its int, b"%"[0] in data, and longer bytes' with find:
#: 'bytes in bytes' raises and clears a TypeError inside CPython 3.11 first; see httpsubject.py.)
MAX_DECODE_ROUNDS = 4  # %252e%252e -> %2e%2e -> .. ; more rounds than anything seen in the wild
MAX_LOOKUP_STEPS = 256  # ${...} resolutions per field

_PERCENT = re.compile(rb"%(?:([0-9a-fA-F]{2})|[uU]([0-9a-fA-F]{4}))")
# Overlong UTF-8 forms of ASCII (%c0%ae is '.', %c0%af is '/', %e0%80%ae is '.'); a correct
# decoder refuses them, old IIS and Tomcat accepted them, scanners still send them.
_OVERLONG2 = re.compile(rb"[\xc0\xc1][\x80-\xbf]")
_OVERLONG3 = re.compile(rb"\xe0[\x80-\x81][\x80-\xbf]")
_LOOKUP = re.compile(rb"\$\{([^${}]{0,512})\}")
_SENTINEL = re.compile(rb"\x00(\d+)\x00")


_HEX = b"0123456789abcdefABCDEF"
#: '41' -> b'A' for every pair of hex digits: a dict lookup a piece beats a regex callback an escape.
_HEX_PAIRS = {bytes([a, b]): bytes([int(bytes([a, b]), 16)]) for a in _HEX for b in _HEX}


def percent_decode_once(data: bytes) -> bytes:
    """%XX and IIS-style %uXXXX escapes; malformed escapes stay as they are."""
    if b"%"[0] not in data:
        return data
    try:  # every '%' well formed (the common case): '%XX' read as '\\xXX' by one C call
        return escape_decode(data.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]
    except ValueError:  # a '%' not followed by two hex digits (%uXXXX, '100%')
        pass
    # every escape starts at a '%' and holds none: decoding the pieces between them is the same
    # as one left-to-right pass of _PERCENT (kept as the reference, tests compare the two)
    pieces = data.split(b"%")
    out = [pieces[0]]
    pairs = _HEX_PAIRS
    for piece in pieces[1:]:
        byte = pairs.get(piece[:2])
        if byte is not None:
            out.append(byte + piece[2:])
        elif piece[:1] in (b"u", b"U") and len(piece) >= 5 and piece[1:3] in pairs and piece[3:5] in pairs:
            out.append(_wide_byte(int(piece[1:5], 16)) + piece[5:])
        else:
            out.append(b"%" + piece)
    return b"".join(out)


def percent_decode_reference(data: bytes) -> bytes:
    """percent_decode_once with one regex: slower, kept to check it against."""
    return _PERCENT.sub(_percent_byte, data)


def _wide_byte(code: int) -> bytes:
    return chr(code).encode("utf-8", "surrogatepass") if code > 0x7F else bytes([code])


def _percent_byte(found: re.Match[bytes]) -> bytes:
    hex2, hex4 = found.group(1), found.group(2)
    if hex2 is not None:
        return bytes([int(hex2, 16)])
    return _wide_byte(int(hex4, 16))


def has_overlong_lead(data: bytes) -> bool:
    """Whether ``data`` holds a lead byte of an overlong form fold_overlong_utf8 folds."""
    return b"\xc0"[0] in data or b"\xc1"[0] in data or b"\xe0"[0] in data


def fold_overlong_utf8(data: bytes) -> bytes:
    """Replace overlong encodings of ASCII characters by the character itself."""
    if not has_overlong_lead(data):
        return data
    data = _OVERLONG3.sub(lambda m: bytes([((m.group()[1] & 0x3F) << 6 | (m.group()[2] & 0x3F)) & 0x7F]), data)
    return _OVERLONG2.sub(lambda m: bytes([((m.group()[0] & 0x1F) << 6 | (m.group()[1] & 0x3F)) & 0x7F]), data)


def python_decode_repeated(data: bytes, *, plus_is_space: bool = False) -> bytes:
    """Percent-decode until nothing changes (bounded), folding overlong UTF-8 each round
    (``decode_repeated``: this, or the same in C)."""
    if plus_is_space and b"+"[0] in data:
        data = data.replace(b"+", b" ")
    if b"%"[0] not in data and not has_overlong_lead(data):
        return data  # the common case: nothing to decode
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = fold_overlong_utf8(percent_decode_once(data))
        if decoded == data:
            break
        data = decoded
        if b"%"[0] not in data and not has_overlong_lead(data):
            break  # the next round could change nothing (the common end: one round, not two)
    return data


def normalize_path(path: bytes) -> bytes:
    """A decoded path as a server would route it: '\\' is '/', '..;' is '..', dot segments resolved.

    Dot segments above the root are dropped (``/../../etc/passwd`` is ``/etc/passwd``), as every
    server does, so a rule can name the file reached; the traversal itself shows in ``url``.
    Empty segments are dropped too (``//etc`` is ``/etc``).
    """
    path = path.replace(b"\\", b"/")
    if path.find(b"//") < 0 and path.find(b"/.") < 0 and path[:1] != b".":
        return path  # no empty and no dot segment: resolving them changes nothing
    return resolve_segments(path)


def resolve_segments(path: bytes) -> bytes:
    """normalize_path's work on a path with '/' separators: dot and empty segments resolved."""
    out: list[bytes] = []
    bare = b""
    for segment in path.split(b"/"):
        bare = segment.split(b";", 1)[0] if segment.startswith(b".") else segment
        if bare == b"..":
            if out:
                out.pop()
        elif segment and bare != b".":
            out.append(segment)
    joined = b"/".join(out)
    if path.startswith(b"/"):
        joined = b"/" + joined
    if out and (path.endswith(b"/") or bare in (b".", b"..")):
        joined += b"/"
    return joined or b"/"


def resolve_log4j_lookups(data: bytes) -> bytes:
    """Resolve Log4j2 lookups that hide ``${jndi:``: ``${lower:J}``, ``${::-j}``, ``${env:X:-j}``...

    Lookups are resolved innermost first; ``${jndi:...}`` and lookups without a default
    (``${env:USER}``) are kept literally, so ``${${lower:j}ndi:ldap://${env:USER}.x/a}`` becomes
    ``${jndi:ldap://${env:USER}.x/a}``.
    """
    if b"$"[0] not in data or data.find(b"${") < 0:  # one byte is found faster than two
        return data
    kept: list[bytes] = []

    def resolve(found: re.Match[bytes]) -> bytes:
        inner = found.group(1)
        value = _lookup_value(inner)
        if value is not None:
            return value
        kept.append(found.group(0))
        return b"\x00%d\x00" % (len(kept) - 1)

    steps = 0
    while steps < MAX_LOOKUP_STEPS:
        replaced, count = _LOOKUP.subn(resolve, data, count=MAX_LOOKUP_STEPS - steps)
        if count == 0:
            break
        data, steps = replaced, steps + count
    for _ in range(4):  # kept lookups may nest kept lookups
        if b"\x00"[0] not in data:
            break
        data = _SENTINEL.sub(lambda m: _restore(kept, m), data)
    return data


def _restore(kept: list[bytes], found: re.Match[bytes]) -> bytes:
    index = int(found.group(1))
    return kept[index] if index < len(kept) else found.group(0)


def _lookup_value(inner: bytes) -> bytes | None:
    """The text a lookup stands for, or None to keep it as written."""
    lowered = inner.lower()
    if lowered.startswith(b"jndi:"):
        return None
    if inner.find(b":-") >= 0:  # ${env:NOPE:-j} and ${::-j}: the default is what log4j prints
        return inner.split(b":-", 1)[1]
    if lowered.startswith(b"lower:"):
        return inner[6:].lower()
    if lowered.startswith(b"upper:"):
        return inner[6:].upper()
    if lowered.startswith(b"date:"):
        return inner[5:].strip(b"'\"")
    return None


_ENTITY = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,6})|([0-9]{1,7}));?")


def python_decode_numeric_entities(data: bytes) -> bytes:
    """HTML numeric character references (``&#x3c;``, ``&#60;``), used to hide XSS and SSTI
    (``decode_numeric_entities``: this, or the same in C)."""
    # one byte is found faster than two (memchr): '&' is in every form body, '#' seldom
    if b"&"[0] not in data or b"#"[0] not in data or data.find(b"&#") < 0:
        return data

    def char(found: re.Match[bytes]) -> bytes:
        code = int(found.group(1), 16) if found.group(1) else int(found.group(2))
        if code > 0x10FFFF:
            return found.group(0)
        return chr(code).encode("utf-8", "surrogatepass") if code > 0x7F else bytes([code])

    return _ENTITY.sub(char, data)


def decoded_text(data: bytes, *, plus_is_space: bool = False) -> bytes:
    """Percent-decoded repeatedly, Log4j lookups resolved: what query, body and url rules see."""
    return resolve_log4j_lookups(decode_repeated(data, plus_is_space=plus_is_space))


_JSON_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})|\\([\"\\/])")
_JSON_SHORT_ESCAPE = re.compile(rb"\\([\"\\/])")


def python_unescape_json(data: bytes) -> bytes:
    """JSON string escapes (``\\u003e`` is '>', ``\\"`` is '"'), as Docker API bodies carry commands
    (``unescape_json``: this, or the same in C)."""
    if b"\\"[0] not in data:
        return data
    if data.find(b"\\u") < 0:  # only \" \\ \/: a template substitution, no callback an escape
        return _JSON_SHORT_ESCAPE.sub(rb"\1", data)

    def char(found: re.Match[bytes]) -> bytes:
        if found.group(2) is not None:
            return found.group(2)
        code = int(found.group(1), 16)
        return chr(code).encode("utf-8", "surrogatepass") if code > 0x7F else bytes([code])

    return _JSON_ESCAPE.sub(char, data)


def _load_native() -> ModuleType | None:
    try:
        return importlib.import_module("honeyguard.detect._decoders")
    except ImportError:  # not built (no compiler at install time): the Python above does the work
        return None


#: The C twins of the three decoders above (_decoders.c: the same answers, tests compare them on
#: random bytes), where built: in Python each escape is a regex callback, and these decoders were
#: about a sixth of the engine's time on bench_detect's requests.
NATIVE_DECODERS = _load_native()
decode_repeated = python_decode_repeated
decode_numeric_entities = python_decode_numeric_entities
unescape_json = python_unescape_json
if NATIVE_DECODERS is not None:
    decode_repeated = NATIVE_DECODERS.decode_repeated
    decode_numeric_entities = NATIVE_DECODERS.decode_numeric_entities
    unescape_json = NATIVE_DECODERS.unescape_json


def raw_plus_decoded(data: bytes, *, plus_is_space: bool = True) -> bytes:
    """The raw text, then a newline and its decoded form when decoding changes it.

    Decoding: percent-escapes (repeated, '+' as space), Log4j lookups, JSON string escapes and
    HTML numeric entities.
    """
    if plus_is_space and NATIVE_DECODERS is not None:  # the four steps in one C call
        found: bytes | None = NATIVE_DECODERS.raw_plus_decoded(data)
        if found is not None:  # (None: a Log4j lookup, which the Python resolves)
            return found
    decoded = decode_numeric_entities(unescape_json(decoded_text(data, plus_is_space=plus_is_space)))
    return data if decoded == data else data + b"\n" + decoded


# The three steps of shell de-obfuscation: noise ($IFS, $@, $1, empty quotes, a backslash before a
# letter), a quote between two letters or digits, brace lists. Each step first asks with bytes
# methods whether it can change the text at all: IOC extraction runs this over every decoded layer
# of a payload (often 2 KB of JSON, hundreds of quotes), where each regex stops at every quote.
_SHELL_NOISE = re.compile(rb"\$\{IFS\}|\$IFS(?:\$\d)?|\$\{?@\}?|\$\d|''|\"\"|\\(?=[A-Za-z0-9/])")
_BACKSLASH = re.compile(rb"\\(?=[A-Za-z0-9/])")  # _SHELL_NOISE's last alternative
# the quote first, so that the search skips to quotes (a leading lookbehind is tried at every byte)
_INNER_QUOTES = re.compile(rb"['\"](?<=[A-Za-z0-9]['\"])(?=[A-Za-z0-9])")
_BRACED = re.compile(rb"\{([^{}\s]*+)\}")  # '{', no brace or space, '}': what a brace list can be
_LIST_HEAD_MAX, _LIST_REST_MAX = 200, 400  # a list: 1 to 200 bytes, a ',', at most 400 more
_ALNUM = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# each byte as its class: a letter or digit 'a', a quote 'q', anything else '.'
_CLASSES = bytes(ord("a") if byte in _ALNUM else ord("q") if byte in b"'\"" else ord(".") for byte in range(256))


def deobfuscate_shell(line: bytes) -> bytes:
    """``w'g'et``, ``w\\get``, ``cat${IFS}/etc/passwd``, ``{wget,http://x}``: the command as run."""
    if not any(mark in line for mark in (b"$", b"'", b'"', b"\\", b"{")):
        return line
    line = _without_noise(line)
    if b"aqa" in line.translate(_CLASSES):  # a quote between two letters or digits: w'g'et
        line = _INNER_QUOTES.sub(b"", line)
    if b"{"[0] not in line:
        return line
    return _brace_lists(line)


def _without_noise(line: bytes) -> bytes:
    if b"$" not in line and b"''" not in line:
        # left: '\\' before a letter, digit or '/', and empty strings. Apart, in this order, they
        # remove what the one pass removes: dropping such a '\\' never joins two quotes.
        if b"\\" in line:
            line = _BACKSLASH.sub(b"", line)
        return line.replace(b'""', b"")
    if line.find(b"IFS") >= 0:  # $IFS is a space; without it every piece goes, no callback a piece
        return _SHELL_NOISE.sub(lambda found: b" " if found.group().find(b"IFS") >= 0 else b"", line)
    return _SHELL_NOISE.sub(b"", line)


def _brace_lists(line: bytes) -> bytes:
    """``{wget,-q,http://x/a}`` -> ``wget -q http://x/a``."""
    pieces: list[bytes] = []
    done = 0
    for braced in _BRACED.finditer(line):
        words = braced.group(1)
        head_end = min(_LIST_HEAD_MAX, len(words) - 1) + 1
        if words.find(b",", max(1, len(words) - 1 - _LIST_REST_MAX), head_end) >= 0:
            pieces.append(line[done : braced.start()])
            pieces.append(words.replace(b",", b" "))
            done = braced.end()
    if not pieces:
        return line
    pieces.append(line[done:])
    return b"".join(pieces)
