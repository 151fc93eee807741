"""A small, tolerant splitter of raw HTTP/1.x request bytes, for offline detection.

The sensor parses requests as they arrive; ``honeyguard detect`` gets the bytes a client sent
and needs the same parts. Anything goes: bare LF line ends, a missing version, a head without
the blank line, header lines without a colon (kept as a name with an empty value). It never
raises; bytes that do not start with a request line give ``None`` and are matched as ``raw``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAX_HEADERS = 200
_FOLD = re.compile(rb"\n[ \t]")  # a folded line (a regex finds it faster than two 'in' tests)
# method, then the rest of the line; the version is split off in Python (a lazy regex that
# finds it costs microseconds on a long target)
_REQUEST_LINE = re.compile(rb"([A-Za-z][A-Za-z0-9_.!#$&'*+^`|~-]{0,31}) +(\S[^\r\n]*)\r?$")


class SplitRequest(NamedTuple):
    """A request's parts (a tuple: built once a request, a frozen dataclass costs a microsecond)."""

    method: bytes
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""


def split_http(data: bytes, request_line: tuple[bytes, bytes, bytes] | None = None) -> SplitRequest | None:
    """The request line, headers and body of ``data``, or None when it is not HTTP.
    ``request_line``: what split_request_line gave for ``data``, when the caller has it."""
    head, body = _cut_head(data)
    lines = head.split(b"\n")
    if request_line is None:
        request_line = _parse_request_line(lines[0])
    if request_line is None:
        return None
    if _FOLD.search(head) is None:  # no folded lines: one comprehension does it
        cut = [line.rstrip(b"\r").partition(b":") for line in lines[1:]]
        fast = [(name.strip(), value.strip()) for name, sep, value in cut if name or sep][:MAX_HEADERS]
        return SplitRequest(*request_line, fast, body)
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        line = line.rstrip(b"\r")
        if not line:
            continue
        if line[:1] in b" \t" and headers:  # obsolete line folding: continues the last value
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip())
            continue
        if len(headers) >= MAX_HEADERS:
            break
        name, _, value = line.partition(b":")
        headers.append((name.strip(), value.strip()))
    return SplitRequest(*request_line, headers, body)


def split_request_line(data: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(method, target, version) as split_http gives them, without splitting the headers."""
    # the head ends at a blank line, which the first line end comes before (or with: '\r\n\r\n'
    # leaves the line with its '\r', which the parser drops anyway)
    end = data.find(b"\n")
    return _parse_request_line(data[:end] if end >= 0 else data)


def _parse_request_line(line: bytes) -> tuple[bytes, bytes, bytes] | None:
    """'METHOD target [HTTP/x]': trailing spaces and CR dropped, the version only when it looks like one."""
    found = _REQUEST_LINE.match(line)
    if found is None:
        return None
    method, rest = found.groups()
    rest = rest.rstrip(b" ")
    space = rest.rfind(b" ")
    if space > 0:
        version = rest[space + 1 :]
        # one word (no '\\t', '\\v', '\\f': the regex lets no line end through, rfind no space)
        if version[:5] == b"HTTP/" and 6 <= len(version) <= 13 and not _has_blank(version):
            return method, rest[:space].rstrip(b" "), version
    return method, rest, b""


def _has_blank(word: bytes) -> bool:
    return b"\t"[0] in word or b"\x0b"[0] in word or b"\x0c"[0] in word


def _cut_head(data: bytes) -> tuple[bytes, bytes]:
    crlf, lf = head_ends(data)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return data[:crlf], data[crlf + 4 :]
    if lf >= 0:
        return data[:lf], data[lf + 2 :]
    return data, b""


def head_ends(data: bytes) -> tuple[int, int]:
    """The first '\\r\\n\\r\\n' and the first '\\n\\n' (-1: none), the second looked for only before
    the first: a multi-byte find steps through every byte, and past a CRLF head that is the body."""
    crlf = data.find(b"\r\n\r\n")
    # ('\\n\\n' cannot straddle the CRLF blank line: its first byte is '\\r')
    return crlf, data.find(b"\n\n", 0, crlf) if crlf >= 0 else data.find(b"\n\n")
