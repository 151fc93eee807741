"""The terminal side of a telnet session: bytes in, lines out, with a pty's echo and editing.

A real telnetd hands the bytes to a pty whose line discipline echoes them, erases on DEL/^H,
kills the line on ^U, interrupts on ^C and ends input on ^D at the start of a line. This does
the same in a few lines, so a bot that never negotiates sees what it would see on a device.
A telnet end of line is CR LF or CR NUL (RFC 854); a bare LF is taken too.
"""

from __future__ import annotations

from dataclasses import dataclass

Item = tuple[str, str]  # ("line", text) | ("interrupt", "") | ("eof", "") | ("overflow", "")

_ERASE = (0x08, 0x7F)
_KILL, _INTERRUPT, _EOF = 0x15, 0x03, 0x04


@dataclass
class LineReader:
    """Feed bytes, then take items one at a time (echo can change between two of them)."""

    max_line: int
    echo: bool = True

    def __post_init__(self) -> None:
        self._line = bytearray()
        self._raw = bytearray()
        self._after_cr = False

    def feed(self, data: bytes) -> None:
        self._raw += data

    def next(self) -> tuple[Item | None, bytes]:
        """The next complete item (None when more bytes are needed) and what a pty would echo."""
        line, raw = self._line, self._raw
        echo = bytearray()
        used = 0
        item: Item | None = None
        for byte in raw:
            used += 1
            item = self._byte(byte, line, echo)
            if item is not None:
                break
        del raw[:used]
        return item, bytes(echo)

    def _byte(self, byte: int, line: bytearray, echo: bytearray) -> Item | None:
        if self._after_cr:
            self._after_cr = False
            if byte in (0x0A, 0x00):
                return None  # the second half of CR LF / CR NUL
        if byte in (0x0D, 0x0A):
            self._after_cr = byte == 0x0D
            text = line.decode("utf-8", "replace")
            line.clear()
            if self.echo:
                echo += b"\r\n"
            return ("line", text)
        if byte in _ERASE:
            if line:
                del line[-1]
                if self.echo:
                    echo += b"\x08 \x08"
        elif byte == _KILL:
            line.clear()
        elif byte == _INTERRUPT:
            line.clear()
            if self.echo:
                echo += b"^C\r\n"
            return ("interrupt", "")
        elif byte == _EOF:
            if not line:
                return ("eof", "")
        elif byte != 0x00:
            line.append(byte)
            if self.echo and (byte >= 0x20 or byte == 0x09):
                echo.append(byte)
            if len(line) > self.max_line:
                line.clear()
                return ("overflow", "")
        return None

    @property
    def pending_line(self) -> int:
        """Bytes of the line being typed (never more than max_line)."""
        return len(self._line)

    def discard(self) -> None:
        """Forget what is buffered (after an interrupt, as a tty flushes its input)."""
        self._raw.clear()
        self._line.clear()
