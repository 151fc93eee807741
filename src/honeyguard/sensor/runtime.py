"""The contract between the sensor runtime and the emulated services.

A service module (``honeyguard.sensor.services.<name>``) exposes ``SERVICE``, an object
with ``async start(listener, ctx) -> Listening``. The runtime hands it a ServiceContext:
who we are, the caps, the clock, where events go, and the connection gate. Each accepted
connection gets a SessionRecorder that stamps the shared fields on every event it records.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from honeyguard.clock import Clock, Entropy, FastEntropy
from honeyguard.config import Limits, Listener, SshSettings
from honeyguard.model import Connect, Event, EventBody, SessionClosed, UuidV7Factory

log = logging.getLogger(__name__)


class EventSink(Protocol):
    def emit(self, event: Event) -> None:
        """Take one event; must not block the event loop."""
        ...


class Labeler(Protocol):
    def label(self, event: Event) -> Event:
        """Return the event with detection labels (rules, CVEs, techniques, IOCs) filled in."""
        ...


class BaitFile(Protocol):
    @property
    def body(self) -> bytes: ...

    @property
    def content_type(self) -> str: ...


class Honeytokens(Protocol):
    """Serves bait credential files with a fresh honeytoken key (creds/honeytokens.py)."""

    def content_for(self, path: str, *, session: str, src_ip: str, service: str = "http",
                    home: str = "/root") -> BaitFile | None:
        """The file to answer a bait path with, else None."""
        ...

    def stamp(self, event: Event) -> Event:
        """Add the key ids served in the event's session since the last stamp, as IOCs."""
        ...


class Listening(Protocol):
    """What a started service hands back: something the runtime can close."""

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


class Service(Protocol):
    name: str

    async def start(self, listener: Listener, ctx: ServiceContext) -> Listening: ...


class Session(Protocol):
    """A live connection the runtime can end at shutdown (it records its own session.closed)."""

    def shutdown(self) -> None: ...


class ConnectionGate:
    """The process-wide cap on concurrent connections."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.refused = 0

    def try_acquire(self) -> bool:
        if self.active >= self.limit:
            self.refused += 1
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1


@dataclass(frozen=True)
class SensorIdentity:
    name: str
    location: str


@dataclass
class ServiceContext:
    """Everything a service needs, handed in rather than read from globals."""

    identity: SensorIdentity
    limits: Limits
    clock: Clock
    ids: UuidV7Factory
    sink: EventSink
    data_dir: Path
    gate: ConnectionGate
    ssh: SshSettings = field(default_factory=SshSettings)
    artifact_max_bytes: int = 32 * 1024 * 1024
    persona_dirs: list[Path] = field(default_factory=list)
    sessions: set[Session] = field(default_factory=set)
    honeytokens: Honeytokens | None = None  # None: no bait files served
    entropy: Entropy = field(default_factory=FastEntropy)  # per-response random values (cookies, nonces)

    def recorder(self, *, protocol: str, persona: str, peer: tuple[str, int], local: tuple[str, int],
                 dst_port: int) -> SessionRecorder:
        return SessionRecorder(self, protocol=protocol, persona=persona, src=peer, dst_ip=local[0],
                               dst_port=dst_port)

    def shutdown_sessions(self) -> None:
        for session in list(self.sessions):
            try:
                session.shutdown()
            except Exception:  # one broken session must not stop the others closing
                log.exception("session shutdown failed")


class SessionRecorder:
    """Records the events of one connection, stamping the fields they share."""

    def __init__(self, ctx: ServiceContext, *, protocol: str, persona: str, src: tuple[str, int],
                 dst_ip: str, dst_port: int) -> None:
        self._ctx = ctx
        self.protocol = protocol
        self.persona = persona
        self.src_ip, self.src_port = _plain_ip(src[0]), src[1]
        self.dst_ip = _plain_ip(dst_ip)
        self.dst_port = dst_port
        self.started = ctx.clock.monotonic()
        self.session = ctx.ids.new(ctx.clock.now())
        self.bytes_in = 0
        self.bytes_out = 0
        self.closed = False

    def record(self, body: EventBody) -> Event:
        ctx = self._ctx
        now = ctx.clock.now()
        event = Event(
            id=ctx.ids.new(now), ts=now, sensor=ctx.identity.name, location=ctx.identity.location,
            session=self.session, kind=body.__struct_config__.tag,  # type: ignore[arg-type]
            src_ip=self.src_ip, src_port=self.src_port, dst_ip=self.dst_ip, dst_port=self.dst_port,
            protocol=self.protocol, persona=self.persona, body=body,
        )
        # labels are written later, a batch at a time, by the sensor's LabellingSink (sensor/sinks.py)
        if ctx.honeytokens is not None:
            event = ctx.honeytokens.stamp(event)  # which honeytoken keys this session was served
        ctx.sink.emit(event)
        return event

    def close(self, reason: str) -> None:
        """Record session.closed once, whoever ends the connection first."""
        if self.closed:
            return
        self.closed = True
        duration = int((self._ctx.clock.monotonic() - self.started) * 1000)
        self.record(SessionClosed(reason=reason, duration_ms=duration,  # type: ignore[arg-type]
                                  bytes_in=self.bytes_in, bytes_out=self.bytes_out))


def _plain_ip(value: str) -> str:
    """'::ffff:1.2.3.4' -> '1.2.3.4', so one attacker has one address."""
    return value[7:] if value.startswith("::ffff:") and "." in value else value


class IdleTimer:
    """Fires ``on_expire`` when nothing happened for ``timeout`` seconds (cheap to touch)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, on_expire: Callable[[], None]) -> None:
        self._loop = loop
        self._timeout = timeout
        self._on_expire = on_expire
        self._deadline = loop.time() + timeout
        self._handle: asyncio.TimerHandle | None = loop.call_at(self._deadline, self._check)

    def touch(self) -> None:
        self._deadline = self._loop.time() + self._timeout

    def _check(self) -> None:
        now = self._loop.time()
        if now >= self._deadline:
            self._handle = None
            self._on_expire()
        else:
            self._handle = self._loop.call_at(self._deadline, self._check)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class BoundedProtocol(asyncio.Protocol, ABC):
    """What every byte-stream service shares: a half-closed client is still answered, the close
    reason is recorded once, and a client that stops reading our answers stops being read.

    A subclass sets ``transport``, ``finished`` and ``paused``, and defines ``_finish(reason)`` and
    ``_on_resume()`` (go on with what was held back while paused)."""

    transport: asyncio.Transport | None
    finished: bool
    paused: bool
    ctx: ServiceContext
    rec: SessionRecorder | None
    idle: IdleTimer
    deadline: asyncio.TimerHandle

    @abstractmethod
    def _finish(self, reason: str) -> None:
        """Close and record session.closed with ``reason``, once."""

    def shutdown(self) -> None:
        """The sensor is stopping: end this session now (Session)."""
        self._finish("shutdown")

    def _open_session(self, transport: asyncio.Transport, *, protocol: str, persona: str,
                      dst_port: int) -> bool:
        """Admit the connection under the process-wide cap, start its recorder, its idle and total
        timers, and record ``connect``. False (the transport aborted) when over the cap."""
        ctx = self.ctx
        if not ctx.gate.try_acquire():
            self.finished = True
            transport.abort()
            return False
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        self.rec = ctx.recorder(protocol=protocol, persona=persona, peer=(peer[0], peer[1]),
                                local=(local[0], local[1]), dst_port=dst_port)
        loop = asyncio.get_running_loop()
        self.idle = IdleTimer(loop, ctx.limits.idle_timeout, lambda: self._finish("idle-timeout"))
        self.deadline = loop.call_later(ctx.limits.session_timeout, self._finish, "session-timeout")
        ctx.sessions.add(self)
        self.rec.record(Connect())
        return True

    def _close_session(self, reason: str, abort_on: tuple[str, ...] = ("shutdown", "error")) -> bool:
        """Once: stop the timers, leave the cap, close (abort for ``abort_on`` reasons, else let
        what was written go out) and record session.closed. False when already finished."""
        if self.finished:
            return False
        self.finished = True
        self.idle.cancel()
        self.deadline.cancel()
        self.ctx.sessions.discard(self)
        self.ctx.gate.release()
        if self.transport is not None:
            if reason in abort_on:
                self.transport.abort()
            else:
                self.transport.close()
        if self.rec is not None:
            self.rec.close(reason)
        return True

    @abstractmethod
    def _on_resume(self) -> None:
        """Go on with input held back while the client was not reading."""

    def eof_received(self) -> bool | None:
        return False  # half-closed: answer what we have, then close

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished:
            self._finish("error" if exc is not None and not isinstance(exc, ConnectionError) else "client-closed")

    def pause_writing(self) -> None:
        self.paused = True
        if self.transport is not None and not self.finished:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.finished:
            self.transport.resume_reading()
            self._on_resume()
