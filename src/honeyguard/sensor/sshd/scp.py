"""The sink side of the SCP protocol (``scp -t``), written by hand: uploads into the fake fs.

The legacy protocol (what ``scp -O`` speaks, and what old clients and bots speak): the sink
sends one NUL byte when ready; the source then sends control lines, each answered by NUL:
``C<mode> <size> <name>`` followed by ``size`` bytes and a NUL, ``D<mode> 0 <name>`` to enter a
directory (with -r), ``E`` to leave it, ``T<mtime> 0 <atime> 0`` for times. A line starting with
\\x01 is a warning and \\x02 an error from the source. Each file becomes an Upload event and an
artifact; control lines are bounded, file bodies are streamed.
"""

from __future__ import annotations

import contextlib
import posixpath

import asyncssh

from honeyguard.model import SshCommand
from honeyguard.sensor.shell.fs import FsError
from honeyguard.sensor.sshd.server import HoneypotConnection
from honeyguard.sensor.sshd.uploads import PendingUpload

MAX_CONTROL_LINE = 4096
_OK = b"\0"


def scp_sink_target(words: list[str]) -> tuple[str, bool] | None:
    """(target path, recursive) when ``words`` is an ``scp -t`` command line; None otherwise."""
    if not words or posixpath.basename(words[0]) != "scp":
        return None
    flags: set[str] = set()
    operands: list[str] = []
    options_done = False
    for word in words[1:]:
        if not options_done and word == "--":
            options_done = True
        elif not options_done and word.startswith("-") and len(word) > 1:
            flags.update(word[1:])
        else:
            operands.append(word)
    if "t" not in flags:
        return None
    return (operands[-1] if operands else "."), "r" in flags


class _Bytes:
    """Reads lines and exact byte counts from a binary stdin, holding at most one chunk."""

    def __init__(self, reader: asyncssh.SSHReader) -> None:  # type: ignore[type-arg]
        self.reader = reader
        self.buffer = b""
        self.eof = False

    async def _fill(self) -> bool:
        chunk = await self.reader.read(65536)
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk.encode("latin-1") if isinstance(chunk, str) else chunk
        return True

    async def line(self) -> bytes | None:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_CONTROL_LINE or not await self._fill():
                return None
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    async def chunks(self, count: int):  # type: ignore[no-untyped-def]
        """Yield exactly ``count`` bytes in pieces (fewer if the client goes away)."""
        while count > 0:
            if not self.buffer and not await self._fill():
                return
            piece, self.buffer = self.buffer[:count], self.buffer[count:]
            count -= len(piece)
            yield piece


class _BinaryOut:
    def __init__(self, writer: asyncssh.SSHWriter) -> None:  # type: ignore[type-arg]
        self.writer = writer

    def write(self, data: bytes) -> None:
        self.writer.write(data.decode("latin-1"))

    async def drain(self) -> None:
        await self.writer.drain()


async def serve_scp_sink(owner: HoneypotConnection, process: asyncssh.SSHServerProcess[str], command: str,
                         target: str, recursive: bool) -> int:
    if owner.rec is not None:
        owner.rec.record(SshCommand(line=command[:8192], channel="exec", handled=True))
    # File bodies are bytes, but the session was opened as UTF-8 text. Switching the channel to
    # latin-1 (public API) makes every str a lossless carrier of bytes, both ways.
    process.channel.set_encoding("latin-1")
    stream = _Bytes(process.stdin)
    out = _BinaryOut(process.stdout)
    fs = owner.fs
    home = "/root" if owner.username in ("", "root") else f"/home/{owner.username}"
    base = fs.resolve(home, target, home)
    directories = [base]
    out.write(_OK)
    while True:
        line = await stream.line()
        if line is None:
            return 0 if stream.eof else 1
        owner.touch()
        kind, rest = line[:1], line[1:].decode("utf-8", errors="replace")
        if kind == b"C":
            parsed = _entry(rest)
            if parsed is None:
                out.write(b"\x02scp: protocol error: bad mode\n")
                return 1
            mode, size, name = parsed
            into = directories[-1] if (len(directories) > 1 or fs.is_dir(directories[-1])) else None
            path = posixpath.join(into, name) if into else directories[-1]
            out.write(_OK)
            if not await _receive(owner, stream, path, mode, size):
                return 1
            out.write(_OK)
        elif kind == b"D":
            parsed = _entry(rest)
            if parsed is None or not recursive:
                out.write(b"\x02scp: received directory without -r\n")
                return 1
            path = posixpath.join(directories[-1], parsed[2])
            with contextlib.suppress(FsError):  # a name clash leaves the upload to fail on its own
                fs.mkdir(path, exist_ok=True)
            directories.append(path)
            out.write(_OK)
        elif kind == b"E":
            if len(directories) > 1:
                directories.pop()
            out.write(_OK)
        elif kind == b"T":
            out.write(_OK)
        elif kind in (b"\x01", b"\x02"):
            if kind == b"\x02":
                return 1
        else:
            out.write(b"\x02scp: protocol error: unexpected <newline>\n")
            return 1
        await out.drain()


def _entry(rest: str) -> tuple[int, int, str] | None:
    """'0644 1234 name' -> (mode, size, name); names with '/' or '..' are refused like OpenSSH does."""
    parts = rest.split(" ", 2)
    if len(parts) != 3 or not parts[1].isdigit() or any(c not in "01234567" for c in parts[0]) or not parts[0]:
        return None
    name = parts[2]
    if "/" in name or name in ("", ".", ".."):
        return None
    return int(parts[0], 8) & 0o7777, int(parts[1]), name


async def _receive(owner: HoneypotConnection, stream: _Bytes, path: str, mode: int, size: int) -> bool:
    upload = PendingUpload(owner, path, "scp", mode)
    try:
        async for piece in stream.chunks(size):
            upload.feed(piece)
        complete = upload.size == size
        if complete:
            trailer = [p async for p in stream.chunks(1)]
            complete = trailer == [b"\0"]
    finally:
        upload.finish()  # a transfer cut off midway is recorded with what arrived
    return complete
