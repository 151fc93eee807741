"""An incremental, tolerant HTTP/1.x request parser: bytes in, requests out.

Attackers send everything: pipelined requests, bare LF line endings, request lines without a
version, binary protocols on the wrong port, endless heads and bodies. The parser never raises on
input, holds at most ``max_head`` bytes of an unfinished head, hashes bodies while they stream
(keeping only the first ``keep_body`` bytes), and gives the same results however the input is
split into chunks. It is pull-based (``feed`` then ``next`` until None) so that the connection
can stop taking requests while its write buffer is full.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

import msgspec

# The characters of an RFC 9110 token: what a method may be made of.
_METHOD_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{0,33}")
_HEX_RE = re.compile(r"[0-9A-Fa-f]{1,16}")
_MAX_METHOD = 32  # longer "methods" are some other protocol
_MAX_CHUNK_LINE = 1024  # a chunk-size line longer than this is an attack on the parser

Problem = Literal["bad-header", "bad-framing", "no-host", "too-large"]
GarbageReason = Literal["not-http", "tls-clienthello", "oversized-head", "malformed", "unknown"]

class Request(msgspec.Struct, kw_only=True, gc=False):
    """One request as received. ``problem`` says why a server would refuse it (400, 413)."""

    method: str
    target: str
    version: str  # "" when the request line had none (HTTP/0.9 style)
    headers: list[tuple[str, str]]
    header_size: int
    keep_alive: bool
    body: bytes = b""
    body_size: int = 0
    body_sha256: str = ""
    body_truncated: bool = False
    problem: Problem | None = None
    complete: bool = True  # False for a request whose body the client never finished


class Garbage(msgspec.Struct, kw_only=True, gc=False):
    """Bytes that are not an HTTP request; the parser takes nothing more after it."""

    reason: GarbageReason
    offset: int  # where in the stream it starts
    data: bytes  # capped at keep_body
    size: int
    sha256: str  # of every byte seen, even when ``data`` is capped


Item = Request | Garbage


class _Body:
    """A body being received: hashed whole, kept up to a cap."""

    __slots__ = ("hasher", "keep", "kept", "size")

    def __init__(self, keep: int) -> None:
        self.hasher = hashlib.sha256()
        self.kept = bytearray()
        self.keep = keep
        self.size = 0

    def add(self, data: bytes | bytearray | memoryview) -> None:
        self.hasher.update(data)
        room = self.keep - len(self.kept)
        if room > 0:
            self.kept += data[:room]
        self.size += len(data)

    def finish_into(self, request: Request) -> Request:
        request.body = bytes(self.kept)
        request.body_size = self.size
        request.body_sha256 = self.hasher.hexdigest() if self.size else ""
        request.body_truncated = self.size > len(self.kept)
        return request


_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _DEAD = range(7)


class RequestParser:
    def __init__(self, *, max_head: int = 65536, max_body: int = 8 * 1024 * 1024,
                 keep_body: int = 65536) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self.keep_body = keep_body
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0]
        self._state = _HEAD
        self._request: Request | None = None
        self._body: _Body | None = None
        self._remaining = 0  # of the Content-Length body or of the current chunk
        self._trailer_bytes = 0
        # How far the unfinished head (or trailer line) was already searched, so that a client
        # dripping a long head byte by byte costs linear time, not quadratic.
        self._scanned = 0
        self._line_end = -1

    @property
    def dead(self) -> bool:
        """True once the stream stopped being HTTP we can frame: nothing more will come out."""
        return self._state == _DEAD

    @property
    def pending(self) -> bool:
        """Whether bytes wait to be parsed: ``next`` never returns anything when there are none."""
        return bool(self._buf)

    def feed(self, data: bytes) -> None:
        if self._state != _DEAD:
            self._buf += data

    def next(self) -> Item | None:
        """The next complete request or garbage, or None until more bytes arrive."""
        state = self._state
        if state == _HEAD:
            return self._head()
        if state == _DEAD:
            return None
        if state == _LENGTH:
            return self._length_body()
        return self._chunked_body()

    def finish(self, *, stopped: bool = False) -> Item | None:
        """At end of stream: what was left unfinished (a partial head or body), if anything.

        ``stopped``: the reader quit early (a cap), so leftover bytes are unread, not malformed.
        """
        state, buf = self._state, self._buf
        self._state = _DEAD
        if state == _HEAD:
            start = _skip_blank(buf)
            if start >= len(buf):
                return None
            reason: GarbageReason = "malformed"
            if stopped:
                reason = "unknown"
            elif buf[start] == 0x16:
                reason = "tls-clienthello"
            elif _METHOD_RE.match(buf, start).end() == start:  # type: ignore[union-attr]
                reason = "not-http"
            return self._garbage(reason, start)
        if state != _DEAD and self._request is not None and self._body is not None:
            request = self._body.finish_into(self._request)
            request.complete = False
            self._request = self._body = None
            return request
        return None

    # -- heads ---------------------------------------------------------------------------------

    def _head(self) -> Item | None:
        buf = self._buf
        if buf and buf[0] in b"\r\n":
            blank = _skip_blank(buf)
            del buf[:blank]  # dropped at once, so that endless CRLFs cannot fill the buffer
            self._offset += blank
        start, size = 0, len(buf)
        if not size:
            return None
        first = buf[start]
        if first == 0x16:
            return self._tls(start)
        method_end = _METHOD_RE.match(buf, start).end()  # type: ignore[union-attr]
        method_len = method_end - start
        if method_len > _MAX_METHOD or method_len == 0:
            return self._garbage("not-http", start)
        if method_end == size:
            return None  # the method is still arriving
        if buf[method_end] not in b" \t":
            return self._garbage("not-http", start)
        line_end = self._line_end
        if line_end < 0:
            line_end = buf.find(b"\n", max(method_end, self._scanned))
            if line_end < 0:
                self._scanned = size
                return self._garbage("oversized-head", start) if size - start > self.max_head else None
            self._line_end = line_end
        search_from = max(line_end, self._scanned - 2)  # a terminator may straddle the old end
        blank = buf.find(b"\n\r\n", search_from)
        bare = buf.find(b"\n\n", search_from, blank + 1 if blank >= 0 else size)
        if bare >= 0:
            head_end = bare + 2
        elif blank >= 0:
            head_end = blank + 3
        else:
            self._scanned = size
            return self._garbage("oversized-head", start) if size - start > self.max_head else None
        if head_end - start > self.max_head:
            return self._garbage("oversized-head", start)
        text = buf[start:head_end].decode("latin-1")
        del buf[:head_end]
        self._offset += head_end
        self._scanned, self._line_end = 0, -1
        return self._start_request(text, head_end - start)

    def _tls(self, start: int) -> Item | None:
        """0x16 0x03 is a TLS handshake record: wait for the whole record so it can be fingerprinted."""
        buf = self._buf
        if len(buf) - start < 2:
            return None
        if buf[start + 1] != 0x03:
            return self._garbage("not-http", start)
        if len(buf) - start < 5:
            return None
        record = 5 + (buf[start + 3] << 8 | buf[start + 4])
        if len(buf) - start < min(record, self.max_head):
            return None
        return self._garbage("tls-clienthello", start, min(record, self.max_head))

    def _garbage(self, reason: GarbageReason, start: int, length: int | None = None) -> Garbage:
        data = bytes(self._buf[start:start + length] if length is not None else self._buf[start:])
        self._state = _DEAD
        self._buf = bytearray()
        return Garbage(reason=reason, offset=self._offset + start, data=data[: self.keep_body],
                       size=len(data), sha256=hashlib.sha256(data).hexdigest())

    def _start_request(self, text: str, header_size: int) -> Item | None:
        lines = text.split("\n")
        method, target, version = _request_line(lines[0].rstrip("\r"))
        headers, problem = _headers(lines[1:])
        chunked, length, keep_alive = False, 0, version == "HTTP/1.1"
        has_host = False
        for name, value in headers:
            lower = name.lower()
            if lower == "host":
                has_host = True
            elif lower == "content-length":
                parsed = int(value) if value.isdigit() and len(value) < 19 else -1
                if parsed < 0 or (length and parsed != length):
                    problem = "bad-framing"
                length = max(parsed, 0)
            elif lower == "transfer-encoding":
                if value.rsplit(",", 1)[-1].strip().lower() == "chunked":
                    chunked = True
                else:
                    problem = "bad-framing"
            elif lower == "connection":
                tokens = value.lower()
                if "close" in tokens:
                    keep_alive = False
                elif "keep-alive" in tokens and version == "HTTP/1.0":
                    keep_alive = True
        if problem is None and version == "HTTP/1.1" and not has_host:
            problem = "no-host"
        request = Request(method=method, target=target, version=version, headers=headers,
                          header_size=header_size, keep_alive=keep_alive, problem=problem)
        if problem == "bad-framing":
            self._state = _DEAD  # the body cannot be delimited: nothing after it can be trusted
            self._buf = bytearray()
            return request
        if not chunked and length == 0:
            return request
        self._request, self._body = request, _Body(self.keep_body)
        if chunked:
            self._state = _CHUNK_SIZE
            return self._chunked_body()
        self._state, self._remaining = _LENGTH, length
        return self._length_body()

    # -- bodies --------------------------------------------------------------------------------

    def _take(self, count: int) -> bool:
        """Move ``count`` buffered bytes into the body; False when that would pass max_body."""
        body = self._body
        assert body is not None
        room = self.max_body - body.size
        if count > room:
            count = room
        if count:
            view = memoryview(self._buf)[:count]
            body.add(view)
            view.release()
            del self._buf[:count]
            self._offset += count
            self._remaining -= count
        return body.size < self.max_body or self._remaining == 0

    def _length_body(self) -> Item | None:
        if not self._take(min(self._remaining, len(self._buf))):
            return self._too_large()
        return self._complete() if self._remaining == 0 else None

    def _chunked_body(self) -> Item | None:
        buf = self._buf
        while True:
            state = self._state
            if state == _CHUNK_SIZE:
                line_end = buf.find(b"\n")
                if line_end < 0:
                    return self._bad_chunk() if len(buf) > _MAX_CHUNK_LINE else None
                size_text = buf[:line_end].decode("latin-1").split(";", 1)[0].strip()
                if line_end > _MAX_CHUNK_LINE or not _HEX_RE.fullmatch(size_text):
                    return self._bad_chunk()
                del buf[: line_end + 1]
                self._offset += line_end + 1
                self._remaining = int(size_text, 16)
                self._state = _CHUNK_DATA if self._remaining else _TRAILERS
            elif state == _CHUNK_DATA:
                available = min(self._remaining, len(buf))
                if self._remaining and not available:
                    return None
                if self._body is not None and self._body.size + self._remaining > self.max_body:
                    self._take(min(available, self.max_body - self._body.size))
                    return self._too_large() if len(buf) else None
                self._take(available)
                if self._remaining:
                    return None
                self._state = _CHUNK_END
            elif state == _CHUNK_END:
                if buf[:2] == b"\r\n" or buf[:1] == b"\n":
                    skip = 2 if buf[:1] == b"\r" else 1
                    del buf[:skip]
                    self._offset += skip
                    self._state = _CHUNK_SIZE
                elif not buf or buf == b"\r":
                    return None
                else:
                    return self._bad_chunk()
            else:  # trailers: lines until an empty one; bounded like a head
                line_end = buf.find(b"\n", self._scanned)
                if line_end < 0:
                    self._scanned = len(buf)
                    return self._bad_chunk() if self._trailer_bytes + len(buf) > self.max_head else None
                line = bytes(buf[:line_end])
                self._scanned = 0
                del buf[: line_end + 1]
                self._offset += line_end + 1
                self._trailer_bytes += line_end + 1
                if self._trailer_bytes > self.max_head:
                    return self._bad_chunk()
                if line in (b"", b"\r"):
                    return self._complete()

    def _complete(self) -> Request:
        assert self._request is not None and self._body is not None
        request = self._body.finish_into(self._request)
        self._request = self._body = None
        self._state, self._trailer_bytes = _HEAD, 0
        return request

    def _too_large(self) -> Request:
        request = self._complete()
        request.problem = "too-large"
        self._state, self._buf = _DEAD, bytearray()
        return request

    def _bad_chunk(self) -> Request:
        request = self._complete()
        request.problem = "bad-framing"
        self._state, self._buf = _DEAD, bytearray()
        return request


def _skip_blank(buf: bytearray) -> int:
    """RFC 9112 lets a server ignore empty lines before a request (clients send stray CRLFs)."""
    index = 0
    size = len(buf)
    while index < size and buf[index] in b"\r\n":
        index += 1
    return index


def _request_line(line: str) -> tuple[str, str, str]:
    """METHOD TARGET [VERSION], tolerating spaces inside the target and a missing version."""
    parts = line.split(" ")
    if len(parts) == 3 and parts[1] and parts[2].startswith("HTTP/"):  # the usual shape, quickly
        return parts[0], parts[1], parts[2]
    method, _, rest = line.partition(" ") if " " in line else line.partition("\t")
    rest = rest.strip(" \t")
    target, _, last = rest.rpartition(" ")
    if last.startswith("HTTP/") and target:
        return method, target.rstrip(" \t"), last
    if rest.startswith("HTTP/") and " " not in rest:
        return method, "", rest
    return method, rest, ""


def _headers(lines: list[str]) -> tuple[list[tuple[str, str]], Problem | None]:
    headers: list[tuple[str, str]] = []
    problem: Problem | None = None
    for raw in lines:
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line:
            continue  # the blank line that ends the head
        if line[0] in " \t":  # obsolete line folding: continues the previous value
            if headers:
                name, value = headers[-1]
                headers[-1] = (name, (value + " " + line.strip(" \t")).strip())
            else:
                problem = "bad-header"
            continue
        name, colon, value = line.partition(":")
        if not colon or not name:
            problem = "bad-header"
            headers.append((line, ""))
            continue
        headers.append((name, value.strip(" \t")))
    return headers, problem
