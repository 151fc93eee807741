"""Helpers for the telnet and Redis tests: a raw socket client, a pty-driven real client, and
a connection class driven in-process with a fake transport (for the property tests)."""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import select
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.config import Limits, SshSettings
from honeyguard.model import UuidV7Factory
from honeyguard.sensor.runtime import ConnectionGate, SensorIdentity, ServiceContext
from honeyguard.sensor.sinks import MemorySink

IAC, DONT, DO, WONT, WILL = 255, 254, 253, 252, 251


class RawClient:
    """A socket client that reads until a marker arrives (or fails after a generous timeout)."""

    def __init__(self, port: int, *, answer_options: bool = False) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.received = bytearray()
        self.answer_options = answer_options  # refuse every option as a bot does (WONT / DONT)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, marker: bytes, timeout: float = 30.0) -> bytes:
        """All bytes received so far once ``marker`` is among them (consumed up to the marker)."""
        deadline = time.monotonic() + timeout
        while marker not in self.received:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{marker!r} not received; got {bytes(self.received[-400:])!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"closed before {marker!r}; got {bytes(self.received[-400:])!r}")
            if self.answer_options:
                self._answer(chunk)
            self.received += chunk
        cut = self.received.index(marker) + len(marker)
        taken = bytes(self.received[:cut])
        del self.received[:cut]
        return taken

    def telnet_login(self, username: str, password: str, prompt: bytes = b"# ") -> bytes:
        """Answer the login dialogue; what came up to the shell's prompt (the motd)."""
        self.read_until(b"login: ")
        self.send(username.encode() + b"\r\n")
        self.read_until(b"Password: ")
        self.send(password.encode() + b"\r\n")
        return self.read_until(prompt)

    def read_to_close(self, timeout: float = 30.0) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the server did not close the connection")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                out = bytes(self.received)
                self.received.clear()
                return out
            self.received += chunk

    def _answer(self, chunk: bytes) -> None:
        for index in range(len(chunk) - 2):
            if chunk[index] == IAC and chunk[index + 1] in (DO, WILL):
                verb = WONT if chunk[index + 1] == DO else DONT
                self.sock.sendall(bytes((IAC, verb, chunk[index + 2])))

    def close(self) -> None:
        self.sock.close()


class PtyClient:
    """A real interactive client (telnet) on a pseudo-terminal, driven like a person would."""

    def __init__(self, argv: list[str]) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                                     start_new_session=True)
        os.close(slave)
        self.seen = bytearray()

    def expect(self, marker: bytes, timeout: float = 30.0) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{marker!r} not shown; screen: {bytes(self.seen[-600:])!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the client exited and the pty is gone
                chunk = b""
            if not chunk:
                raise AssertionError(f"client ended before {marker!r}; screen: {bytes(self.seen[-600:])!r}")
            self.seen += chunk
        cut = self.seen.index(marker) + len(marker)
        taken = bytes(self.seen[:cut])
        del self.seen[:cut]
        return taken

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            os.close(self.master)


class FakeTransport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default

    def write(self, data: bytes) -> None:
        assert not self.closed, "wrote after closing"
        self.written += data

    def close(self) -> None:
        self.closed = True

    abort = close

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def fake_context(limits: Limits, ssh: SshSettings | None = None) -> tuple[ServiceContext, MemorySink]:
    sink = MemorySink()
    ctx = ServiceContext(identity=SensorIdentity("s", "l"), clock=FakeClock(), sink=sink, gate=ConnectionGate(10),
                         limits=limits, ids=UuidV7Factory(SeededEntropy(1)), data_dir=Path("/nonexistent"),
                         ssh=ssh or SshSettings())
    return ctx, sink


def drive(make: Callable[[], object], chunks: list[bytes]) -> FakeTransport:
    """Connect a protocol object to a fake transport, feed it ``chunks``, then hang up."""

    async def main() -> FakeTransport:
        transport = FakeTransport()
        connection = make()
        connection.connection_made(transport)  # type: ignore[attr-defined]
        for chunk in chunks:
            if transport.closed:
                break
            connection.data_received(chunk)  # type: ignore[attr-defined]
        connection.connection_lost(None)  # type: ignore[attr-defined]
        return transport

    return asyncio.run(main())


class ErrorLog(logging.Handler):
    """Collects error records of honeyguard's loggers (a connection that failed logs one)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> ErrorLog:
        logging.getLogger("honeyguard").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("honeyguard").removeHandler(self)
