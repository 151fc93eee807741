"""RESP2 requests, as redis-server reads them: multibulk (``*N`` then ``$len`` bulks) or inline.

Incremental and bounded: ``feed`` takes bytes cut anywhere, ``next`` returns one command's
arguments, None when more bytes are needed, or a ProtocolError carrying the exact error text
Redis sends before it hangs up. Nothing here allocates more than the caps given.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(rb"-?[0-9]{1,19}")
INLINE_MAX = 64 * 1024  # PROTO_INLINE_MAX_SIZE: Redis's own cap on an inline line / a count line


class ProtocolError(Exception):
    """A request Redis would refuse with "-ERR Protocol error: ..." and then close the connection."""


def _number(text: bytes) -> int | None:
    return int(text) if _NUMBER.fullmatch(text) else None


class RespParser:
    def __init__(self, *, max_command_bytes: int, max_args: int = 1024 * 1024) -> None:
        self.max_command_bytes = max_command_bytes  # one command's arguments together
        self.max_args = max_args
        self._buf = bytearray()
        self._args: list[bytes] | None = None  # the multibulk being read
        self._wanted = 0  # arguments still to read
        self._size = 0
        self.failed = False  # after a protocol error Redis hangs up: nothing more is read

    def feed(self, data: bytes) -> None:
        if not self.failed:
            self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next(self) -> list[bytes] | ProtocolError | None:
        if self.failed:
            return None
        try:
            while True:
                if self._args is None:
                    if not self._buf:
                        return None
                    if self._buf[0] != ord("*"):
                        inline = self._inline()
                        if inline is None or inline:
                            return inline
                        continue  # an empty line: Redis ignores it
                    if not self._start_multibulk():
                        return None
                    if self._args is None:
                        continue  # "*0" or "*-1": nothing to run
                done = self._bulks()
                if done is not None:
                    return done
                return None
        except ProtocolError as exc:
            self.failed = True
            self._buf.clear()
            self._args = None
            return exc

    # -- inline ----------------------------------------------------------------------------------

    def _inline(self) -> list[bytes] | None:
        end = self._buf.find(b"\n")
        if end < 0:
            if len(self._buf) > min(INLINE_MAX, self.max_command_bytes):
                raise ProtocolError("too big inline request")
            return None
        line = bytes(self._buf[:end]).rstrip(b"\r")
        del self._buf[:end + 1]
        if len(line) > min(INLINE_MAX, self.max_command_bytes):
            raise ProtocolError("too big inline request")
        args = split_args(line)
        if args is None:
            raise ProtocolError("unbalanced quotes in request")
        return args[:self.max_args] if len(args) <= self.max_args else _too_many()

    # -- multibulk -------------------------------------------------------------------------------

    def _line(self, what: str) -> bytes | None:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > INLINE_MAX:
                raise ProtocolError(f"too big {what} count string")
            return None
        line = bytes(self._buf[1:end])
        del self._buf[:end + 2]
        return line

    def _start_multibulk(self) -> bool:
        line = self._line("mbulk")
        if line is None:
            return False
        count = _number(line)
        if count is None or count > 1024 * 1024:
            raise ProtocolError("invalid multibulk length")
        if count > self.max_args:
            _too_many()
        if count > 0:
            self._args, self._wanted, self._size = [], count, 0
        return True

    def _bulks(self) -> list[bytes] | None:
        assert self._args is not None
        while self._wanted:
            if not self._buf:
                return None
            if self._buf[0] != ord("$"):
                shown = chr(self._buf[0]) if 32 <= self._buf[0] < 127 else "?"
                raise ProtocolError(f"expected '$', got '{shown}'")
            end = self._buf.find(b"\r\n")
            if end < 0:
                if len(self._buf) > INLINE_MAX:
                    raise ProtocolError("too big bulk count string")
                return None
            size = _number(bytes(self._buf[1:end]))
            if size is None or size < 0 or size > 512 * 1024 * 1024:
                raise ProtocolError("invalid bulk length")
            if self._size + size > self.max_command_bytes:
                raise ProtocolError("invalid bulk length")  # our cap, not Redis's 512 MB
            if len(self._buf) < end + 2 + size + 2:
                return None
            self._args.append(bytes(self._buf[end + 2:end + 2 + size]))
            del self._buf[:end + 2 + size + 2]  # Redis skips the two bytes after a bulk unchecked
            self._size += size
            self._wanted -= 1
        args, self._args = self._args, None
        return args


def _too_many() -> list[bytes]:
    raise ProtocolError("invalid multibulk length")


_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}
_HEX = b"0123456789abcdefABCDEF"


def split_args(line: bytes) -> list[bytes] | None:
    """Words of an inline request, with Redis's quoting (sdssplitargs); None for unbalanced quotes."""
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b" \t\n\r\v\f":
            i += 1
        if i >= n:
            return args
        word = bytearray()
        quote = 0
        while True:
            if i >= n:
                if quote:
                    return None
                break
            c = line[i]
            if quote == ord('"'):
                if c == ord("\\") and i + 3 < n and line[i + 1] == ord("x") \
                        and line[i + 2] in _HEX and line[i + 3] in _HEX:
                    word.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == ord("\\") and i + 1 < n:
                    i += 1
                    word += _ESCAPES.get(line[i], bytes((line[i],)))
                elif c == ord('"'):
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f":
                        return None  # the closing quote must be followed by a space
                    i += 1
                    break
                else:
                    word.append(c)
            elif quote == ord("'"):
                if c == ord("\\") and i + 1 < n and line[i + 1] == ord("'"):
                    i += 1
                    word.append(ord("'"))
                elif c == ord("'"):
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f":
                        return None
                    i += 1
                    break
                else:
                    word.append(c)
            elif c in b" \t\n\r\v\f":
                break
            elif c in (ord('"'), ord("'")):
                quote = c
            else:
                word.append(c)
            i += 1
        args.append(bytes(word))
