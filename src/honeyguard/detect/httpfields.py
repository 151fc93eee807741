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

from honeyguard.detect.httpsplit import SplitRequest, head_ends
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
from honeyguard.model import HttpRequest

_TEXT, _METHOD, _REQUEST = FIELD_LIMITS["target"], FIELD_LIMITS["method"], FIELD_LIMITS["request"]
_BLANKS = " \t\n\r\x0b\x0c"  # what bytes.strip strips (str.strip would strip more: '\x85', '\xa0')
#: What makes a path differ from its bytes as sent: escapes, '\\', dot and empty segments, lookups
#: (and a leading '.': normalize_path's cases). path_differs is the same without a regex.
#: a recorded request's line and the fields cut from it: see python_recorded_fields
RecordedFields = tuple[tuple[bytes, bytes, bytes], bytes, bytes, bytes, bytes, bytes, bytes | None]
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


def python_recorded_raw(
    method: str, target: str, version: str, headers: list[tuple[str, str]], body: bytes
) -> bytes | None:
    """A recorded request's raw bytes, as HttpSubject.raw_bytes rebuilds them from its parts (each
    string latin-1), or None when a string is not latin-1."""
    lines = "\r\n".join(map(": ".join, headers))
    try:
        return f"{method} {target} {version}\r\n{lines}\r\n\r\n".encode("latin-1") + body
    except UnicodeEncodeError:
        return None


#: python_recorded_raw in C where built (one allocation, no join, format or codec); it answers
#: None for what it cannot read (a header not a (str, str) tuple): ask the Python then
native_recorded_raw: Callable[[str, str, str, list[tuple[str, str]], bytes], bytes | None] | None = (
    NATIVE_DECODERS.recorded_raw if NATIVE_DECODERS is not None else None
)


def python_unix_head(head: bytes, line_ends: int) -> bytes | None:
    """``head`` with each '\\r\\n' made '\\n', when it holds exactly ``line_ends`` line ends, each a
    '\\r\\n', and no '%' or '$' (nothing a header value's field would decode); else None."""
    unix = head.replace(b"\r\n", b"\n")
    if len(head) - len(unix) != line_ends or b"\r"[0] in unix or unix.count(b"\n") != line_ends:
        return None
    return None if b"%"[0] in head or b"$"[0] in head else unix


#: python_unix_head, in C where built (one pass, where the Python makes four)
unix_head: Callable[[bytes, int], bytes | None] = (
    NATIVE_DECODERS.unix_head if NATIVE_DECODERS is not None else python_unix_head
)


def recorded_line(raw: bytes, request: HttpRequest) -> tuple[bytes, bytes, bytes]:
    """(method, target, version) of a recorded request, cut from its ``raw`` bytes (recorded_raw)
    by its strings' lengths: latin-1 keeps them."""
    m, t, v = len(request.method), len(request.target), len(request.version)
    return raw[:m], raw[m + 1 : m + 1 + t], raw[m + t + 2 : m + t + 2 + v]


def python_recorded_fields(raw: bytes, request: HttpRequest) -> RecordedFields:
    """The request line of a recorded request's ``raw`` bytes (recorded_raw), found by its strings'
    lengths, and its fields: ((method, target, version), the method, target, path, query and url
    fields, and the 'request' field where raw alone gives it (no body, unix_head's test), else None),
    as HttpSubject makes them piece by piece."""
    line = recorded_line(raw, request)
    method, target, _version = line
    m, t, v = len(request.method), len(request.target), len(request.version)
    path, query, url = python_target_fields(target)
    found = None
    if not request.body and len(raw) - m - t - v <= _TEXT:
        unix = python_unix_head(raw, (len(request.headers) or 1) + 2)
        found = request_of_head(unix, line, url, b"") if unix is not None else None
    return line, method[:_METHOD], target[:_TEXT], path, query, url, found


#: python_recorded_fields in C where built (one call for what takes a dozen); None there when the
#: lengths do not fit in raw or a field holds a Log4j lookup: ask the Python then
native_recorded_fields: Callable[[bytes, HttpRequest], RecordedFields | None] | None = (
    NATIVE_DECODERS.recorded_fields if NATIVE_DECODERS is not None else None
)


# ---- a request the sensor recorded (str strings, each latin-1: see HttpSubject's source) ---------


def recorded_parts(request: HttpRequest) -> SplitRequest:
    """The parts of a recorded request whose strings are latin-1 (as its subject's raw bytes were
    made); UnicodeEncodeError for one that is not."""
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in request.headers]
    method, target, version = (text.encode("latin-1") for text in (request.method, request.target, request.version))
    return SplitRequest(method, target, version, headers, request.body)


def recorded_first_host(headers: list[tuple[str, str]]) -> bytes:
    """HttpSubject.first_host of a recorded request's latin-1 headers, without encoding them: on
    latin-1 text lower() and strip(_BLANKS) change the bytes bytes.lower() and strip() change."""
    for name, value in headers:
        if len(name) == 4 and name.lower() == "host" and (host := value.strip(_BLANKS)):
            return host.encode("latin-1")
    return b""


def request_of_head(unix: bytes, line: tuple[bytes, bytes, bytes], url: bytes, body: bytes) -> bytes:
    """The 'request' field of a request whose head as sent, one line a line, is ``unix`` (its
    header values needing no decoding: unix_head), ``line`` its request line and ``url``, ``body``
    its url and body fields."""
    method, target, version = line
    if url == target:  # (the common case) the request line as sent: the whole head
        request = unix + body
    else:
        lines = unix[len(method) + len(target) + len(version) + 3 : -2]
        request = b"%s %s %s\n%s\n\n%s" % (method, url, version, lines, body)
    return request if len(request) <= _REQUEST else request[:_REQUEST]
