"""A small, tolerant splitter of raw HTTP/1.x request bytes, for offline detection.

The sensor parses requests as they arrive; ``honeyguard detect`` gets the bytes a client sent
and needs the same parts. Anything goes: bare LF line ends, a missing version, a head without
the blank line, header lines without a colon (kept as a name with an empty value). It never
raises; bytes that do not start with a request line give ``None`` and are matched as ``raw``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_HEADERS = 200
_REQUEST_LINE = re.compile(rb"([A-Za-z][A-Za-z0-9_.!#$&'*+^`|~-]{0,31}) +(\S[^\r\n]*?)(?: +(HTTP/\S{1,8}))? *\r?$")


@dataclass(frozen=True)
class SplitRequest:
    method: bytes
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


def split_http(data: bytes) -> SplitRequest | None:
    """The request line, headers and body of ``data``, or None when it is not HTTP."""
    head, body = _cut_head(data)
    lines = head.split(b"\n")
    found = _REQUEST_LINE.match(lines[0])
    if found is None:
        return None
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
    return SplitRequest(method=found.group(1), target=found.group(2), version=found.group(3) or b"",
                        headers=headers, body=body)


def _cut_head(data: bytes) -> tuple[bytes, bytes]:
    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return data[:crlf], data[crlf + 4:]
    if lf >= 0:
        return data[:lf], data[lf + 2:]
    return data, b""
