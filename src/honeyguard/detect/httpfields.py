"""The pieces of an HTTP subject's fields (httpsubject.py): the fields of the request line, the
decoded view the prefilter scans, header values, and where the head ends.

Each test that says whether a decoder can change a text asks with one membership test a byte
that starts an escape: each is a memchr (vectorised), where bytes.translate or a regex steps byte
by byte. Membership of a byte is tested with its int (b"%"[0] in data) and of longer bytes with
find: 'bytes in bytes' first tries the operand as an int, raising and clearing a TypeError inside
CPython 3.11 (about 0.1 us a test).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from honeyguard.detect.httpsplit import head_ends
from honeyguard.detect.normalize import (
    NATIVE_DECODERS,
    decode_numeric_entities,
    decode_repeated,
    decoded_text,
    has_overlong_lead,
    normalize_path,
    resolve_log4j_lookups,
    unescape_json,
)
from honeyguard.detect.subject import FIELD_LIMITS

_TEXT, _METHOD = FIELD_LIMITS["target"], FIELD_LIMITS["method"]
#: What makes a path differ from its bytes as sent: escapes, '\\', dot and empty segments, lookups
#: (and a leading '.': normalize_path's cases). path_differs is the same without a regex.
PATH_AS_SENT = re.compile(rb"[%\\\xc0\xc1\xe0]|//|/\.|\$\{")


def line_field(name: str, line: tuple[bytes, bytes, bytes]) -> bytes:
    """The field ``name`` (method, target, path or query) of a request line."""
    method, target, _version = line
    if name == "method":
        return method[:_METHOD]
    if name == "target":
        return target[:_TEXT]
    if name == "path":
        path_raw = (target if target[:1] == b"/" else origin_form(target)).partition(b"?")[0]
        if not path_differs(path_raw):
            return path_raw[:_TEXT]  # nothing to decode, resolve or normalise (the common case)
        return resolve_log4j_lookups(normalize_path(decode_repeated(path_raw)))[:_TEXT]
    query_raw = (target if target[:1] == b"/" else origin_form(target)).partition(b"?")[2]
    if not query_raw:
        return b""
    if not query_may_decode(query_raw):
        return query_raw[:_TEXT]  # no '+', escape or lookup: decoding changes nothing
    return decoded_text(query_raw, plus_is_space=True)[:_TEXT]


def python_target_fields(target: bytes) -> tuple[bytes, bytes, bytes]:
    """The path, query and url fields of a request target."""
    line = (b"", target, b"")
    return line_field("path", line), line_field("query", line), decoded_text(target[:_TEXT])


def target_fields(target: bytes) -> tuple[bytes, bytes, bytes]:
    """python_target_fields, in C where built: one call for the three fields, where the Python
    makes a dozen objects for each (the C leaves Log4j lookups, rare, to the Python)."""
    found = native_target_fields(target) if native_target_fields is not None else None
    return found if found is not None else python_target_fields(target)


#: target -> (path, query, url), or None when one holds a Log4j lookup; None when not built
native_target_fields: Callable[[bytes], tuple[bytes, bytes, bytes] | None] | None = (
    NATIVE_DECODERS.target_fields if NATIVE_DECODERS is not None else None
)


def path_differs(path: bytes) -> bool:
    """Whether the path field can differ from ``path`` as sent: PATH_AS_SENT, or a leading '.'.
    Byte by byte, by memchr: a regex with a class first tries every position (paths are short,
    the tests compare the two)."""
    if b"%"[0] in path or b"\\"[0] in path or path[:1] == b"." or has_overlong_lead(path):
        return True
    return path.find(b"//") >= 0 or path.find(b"/.") >= 0 or (b"$"[0] in path and path.find(b"${") >= 0)


def query_may_decode(query: bytes) -> bool:
    """Whether decoded_text (with '+' as a space) can change ``query``: '+', an escape or a lookup."""
    return b"+"[0] in query or b"%"[0] in query or b"$"[0] in query or has_overlong_lead(query)


def body_may_decode(body: bytes) -> bool:
    """Whether raw_plus_decoded can change ``body``: as a query, or JSON escapes and HTML entities."""
    return query_may_decode(body) or b"\\"[0] in body or b"&"[0] in body


def origin_form(target: bytes) -> bytes:
    """'http://host/p?q' -> '/p?q' (absolute-form targets, sent to proxies)."""
    if target[:1] == b"/":
        return target
    lowered = target[:8].lower()
    if lowered.startswith((b"http://", b"https://")):
        rest = target.split(b"//", 1)[1]
        slash = rest.find(b"/")
        return rest[slash:] if slash >= 0 else b"/"
    return target


def header_value(value: bytes) -> bytes:
    """A header value with Log4j lookups resolved, plus its percent-decoded form on a second line
    when that differs (cookies and forwarded values arrive URL-encoded)."""
    if b"\n"[0] in value or b"\r"[0] in value:
        value = value.replace(b"\n", b" ").replace(b"\r", b" ")
    value = resolve_log4j_lookups(value)
    if b"%"[0] not in value:
        return value
    decoded = resolve_log4j_lookups(decode_repeated(value)).replace(b"\n", b" ").replace(b"\r", b" ")
    return value if decoded == value else value + b"\n" + decoded


LOOKUP, PERCENT, BACKSLASH, ENTITY = 1, 2, 4, 8  # view_marks' bits


def python_view_marks(raw: bytes) -> int:
    """What a view of ``raw`` must undo, as bits: LOOKUP '${', PERCENT a '%' or an overlong UTF-8
    lead byte, BACKSLASH, ENTITY '&#'."""
    marks = LOOKUP if b"$"[0] in raw and raw.find(b"${") >= 0 else 0
    if b"%"[0] in raw or has_overlong_lead(raw):
        marks |= PERCENT
    if b"\\"[0] in raw:
        marks |= BACKSLASH
    if b"&"[0] in raw and b"#"[0] in raw and raw.find(b"&#") >= 0:  # (form bodies are full of '&')
        marks |= ENTITY
    return marks


#: python_view_marks, in C where built (one call, not seven, for every request)
view_marks = NATIVE_DECODERS.view_marks if NATIVE_DECODERS is not None else python_view_marks


def python_head_bounds(raw: bytes) -> tuple[int, int]:
    """(where the head ends, where the body starts), as httpsplit cuts them (the first blank
    line; len(raw) for both without one)."""
    crlf, lf = head_ends(raw)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, crlf + 4
    return (lf, lf + 2) if lf >= 0 else (len(raw), len(raw))


#: python_head_bounds, in C where built (one call for the two finds and the choice)
head_bounds = NATIVE_DECODERS.head_bounds if NATIVE_DECODERS is not None else python_head_bounds


def body_start(raw: bytes) -> int:
    return head_bounds(raw)[1]


def head_end(raw: bytes) -> int:
    """Where the head ends, as httpsplit cuts it (the first blank line)."""
    return head_bounds(raw)[0]


_FOLD = re.compile(rb"\n[ \t]")  # a folded header line (or a line of the body starting with a blank)


def python_head_folded(raw: bytes) -> bool:
    """Whether the head of ``raw`` holds a folded line (a value continued on the next line)."""
    fold = _FOLD.search(raw)  # (a regex finds it faster than 'in' does)
    return fold is not None and fold.start() < head_end(raw)


#: python_head_folded, in C where built (no regex through a long body for a fold in the head)
head_folded = NATIVE_DECODERS.head_folded if NATIVE_DECODERS is not None else python_head_folded


def decoded_view(raw: bytes, body: bytes, percent: bool) -> tuple[bytes, bytes, bytes | None] | None:
    """``raw`` percent-decoded (when ``percent``), then with JSON escapes and entities undone, and
    the body's own result (None when not worked out apart); None when decoding makes a Log4j
    lookup. ``body``: the request's body, or b"" when not worth finding.

    The head and the body are decoded apart when the body holds escapes, and the body's result
    kept for the body field: the same work, done once, not twice."""
    start = len(raw) - len(body)
    # no escape, overlong form or entity holds a line end, so none spans the head's last '\n'
    # (nor will after a round of decoding): decoding each part apart is decoding the whole
    # (worth it when the body holds escapes: else the body field finds that out cheaply)
    escaped = b"%"[0] in body or b"\\"[0] in body or has_overlong_lead(body)
    if not escaped or b"+"[0] in body or raw[start - 1] != 0x0A or not raw.endswith(body):
        decoded = decode_repeated(raw) if percent else raw
        if b"$"[0] in decoded and decoded.find(b"${") >= 0:
            return None
        return decoded, decode_numeric_entities(unescape_json(decoded)), None
    head = raw[:start]
    if percent:
        head_decoded, body_decoded = decode_repeated(head), decode_repeated(body)
        decoded = head_decoded + body_decoded
        if b"$"[0] in decoded and decoded.find(b"${") >= 0:
            return None
    else:  # (the caller saw no lookup in raw)
        head_decoded, body_decoded, decoded = head, body, raw
    unescaped = decode_numeric_entities(unescape_json(body_decoded))  # raw_plus_decoded's: no '+' in it
    return decoded, decode_numeric_entities(unescape_json(head_decoded)) + unescaped, unescaped
