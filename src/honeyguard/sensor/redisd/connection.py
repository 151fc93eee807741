"""One Redis connection: parse RESP, answer as the persona, record each command as an event.

An asyncio.Protocol, like the HTTP service. A protocol error is answered with Redis's own
"-ERR Protocol error: ..." and the connection closed, as redis-server does; the bytes that
caused it are kept in a ``raw.data`` event. Caps: idle and session time, commands, and the
bytes of one command (``limits.max_buffer_bytes``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import cast

from honeyguard.model import RawData, RedisCommand
from honeyguard.sensor.redisd import reply
from honeyguard.sensor.redisd.commands import RedisEmulator, Shared
from honeyguard.sensor.redisd.resp import ProtocolError, RespParser
from honeyguard.sensor.runtime import BoundedProtocol, ServiceContext, SessionRecorder

log = logging.getLogger(__name__)

MAX_EVENT_ARGS = 64
MAX_EVENT_ARG = 4096
MAX_RAW = 4096  # bytes of a malformed request kept in its raw.data event
_FLUSH_BYTES = 64 * 1024  # pipelined replies gathered into one write, up to this much


def event_args(args: list[bytes]) -> list[str]:
    return [a[:MAX_EVENT_ARG].decode("utf-8", "backslashreplace") for a in args[:MAX_EVENT_ARGS]]


class RedisConnection(BoundedProtocol):
    def __init__(self, ctx: ServiceContext, shared: Shared) -> None:
        self.ctx = ctx
        self.shared = shared
        self.transport: asyncio.Transport | None = None
        self.rec: SessionRecorder | None = None
        self.finished = False
        self.paused = False
        self.count = 0
        self.parser = RespParser(max_command_bytes=ctx.limits.max_buffer_bytes)
        self.redis = RedisEmulator(shared, now=lambda: ctx.clock.now().timestamp())
        self._recent = bytearray()  # the last bytes received, for the raw.data of a protocol error

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._open_session(cast(asyncio.Transport, transport), protocol="redis",
                              persona=self.shared.persona.id, dst_port=self.shared.port):
            self.shared.connections += 1

    def data_received(self, data: bytes) -> None:
        if self.finished or self.rec is None:
            return
        self.rec.bytes_in += len(data)
        self.idle.touch()
        self._recent += data
        del self._recent[:-MAX_RAW]
        self.parser.feed(data)
        try:
            self._drain()
        except Exception:  # a bug answering one command ends this connection only
            log.exception("redis connection failed")
            self._finish("error")

    def _drain(self) -> None:
        out: list[bytes] = []
        while not self.finished and not self.paused:
            item = self.parser.next()
            if item is None:
                break
            if isinstance(item, ProtocolError):
                out.append(reply.error(f"ERR Protocol error: {item}"))
                self._write(b"".join(out))
                self._record_raw()
                self._finish("cap-bytes" if "big" in str(item) or "length" in str(item) else "server-closed")
                return
            self.count += 1
            if self.count > self.ctx.limits.max_commands:
                self._write(b"".join(out))
                self._finish("cap-commands")
                return
            outcome = self.redis.execute(item)
            assert self.rec is not None
            self.rec.record(RedisCommand(args=event_args(item), args_count=len(item), handled=outcome.handled))
            out.append(outcome.data)
            if sum(map(len, out)) > _FLUSH_BYTES:  # write now: a client that does not read pauses us
                self._write(b"".join(out))
                out.clear()
            if outcome.close:
                self._write(b"".join(out))
                self._finish("server-closed")
                return
        self._write(b"".join(out))

    def _record_raw(self) -> None:
        assert self.rec is not None
        data = bytes(self._recent)
        self.rec.record(RawData(reason="malformed", data=data, size=len(data),
                                sha256=hashlib.sha256(data).hexdigest()))

    def _on_resume(self) -> None:
        self._drain()

    def _write(self, data: bytes) -> None:
        if data and self.transport is not None and not self.finished:
            assert self.rec is not None
            self.rec.bytes_out += len(data)
            self.transport.write(data)

    def _finish(self, reason: str) -> None:
        self._close_session(reason)
