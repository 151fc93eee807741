"""The sensor process: start every listener, run until told to stop, then flush everything."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
from pathlib import Path

from honeyguard.clock import Clock, Entropy, FastEntropy, SystemClock
from honeyguard.config import Listener, SensorSettings
from honeyguard.errors import ServiceError
from honeyguard.model import UuidV7Factory
from honeyguard.sensor.runtime import (
    ConnectionGate,
    EventSink,
    Labeler,
    Listening,
    SensorIdentity,
    Service,
    ServiceContext,
)
from honeyguard.sensor.services import service_registry
from honeyguard.sensor.sinks import LabellingSink

log = logging.getLogger(__name__)


class Sensor:
    def __init__(self, settings: SensorSettings, *, sink: EventSink, data_dir: Path,
                 labeler: Labeler | None = None, clock: Clock | None = None,
                 entropy: Entropy | None = None) -> None:
        self.settings = settings
        entropy = entropy or FastEntropy()
        # labels are written in batches, once per turn of the event loop, off the request path
        self._labelling = LabellingSink(labeler, sink) if labeler is not None else None
        self.ctx = ServiceContext(
            identity=SensorIdentity(settings.name, settings.location),
            limits=settings.limits,
            clock=clock or SystemClock(),
            ids=UuidV7Factory(entropy),
            sink=self._labelling or sink,
            data_dir=data_dir,
            gate=ConnectionGate(settings.limits.max_connections),
            ssh=settings.ssh,
            artifact_max_bytes=settings.artifact_max_bytes,
            persona_dirs=[Path(p) for p in settings.persona_dirs],
            entropy=entropy,
        )
        if settings.honeytokens.enabled:
            from honeyguard.creds.honeytokens import HoneytokenIssuer

            self.ctx.honeytokens = HoneytokenIssuer(sensor=settings.name, account_id=settings.honeytokens.account_id,
                                                    entropy=entropy, clock=self.ctx.clock)
        self._listening: list[Listening] = []

    async def start(self) -> None:
        """Bind every listener, or none: a failure closes what was opened and raises ServiceError."""
        registry = service_registry()
        self.ctx.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            for index, listener in enumerate(self.settings.listeners):
                service = registry.get(listener.service)
                if service is None:
                    known = ", ".join(sorted(registry))
                    raise ServiceError(f"sensor.listeners[{index}]: unknown service {listener.service!r} "
                                       f"(known: {known})")
                self._listening.append(await self._bind(service, listener))
        except BaseException:
            await self.close_listeners()
            raise
        _drop_privileges(self.settings.run_as, self.ctx.data_dir)
        _settle_collector()

    async def _bind(self, service: Service, listener: Listener) -> Listening:
        try:
            return await service.start(listener, self.ctx)
        except OSError as exc:
            port = listener.bind_port or listener.port
            if exc.errno == errno.EADDRINUSE:
                raise ServiceError(f"{listener.service} listener: port {port} on {listener.host} "
                                   "is already in use") from None
            if exc.errno == errno.EACCES:
                raise ServiceError(f"{listener.service} listener: no permission to bind port {port} "
                                   "(use bind_port with a port map, or CAP_NET_BIND_SERVICE)") from None
            raise ServiceError(f"{listener.service} listener on {listener.host}:{port}: {exc}") from None

    async def close_listeners(self) -> None:
        for listening in self._listening:
            listening.close()
        for listening in self._listening:
            await listening.wait_closed()
        self._listening.clear()

    async def stop(self) -> None:
        """Stop accepting, end every live session (recording session.closed), flush the sink."""
        for listening in self._listening:
            listening.close()
        self.ctx.shutdown_sessions()
        await asyncio.sleep(0)  # let the transports' close callbacks run
        for listening in self._listening:
            try:
                await asyncio.wait_for(listening.wait_closed(), 5)
            except TimeoutError:
                log.warning("a listener did not close in time")
        self._listening.clear()
        if self._labelling is not None:
            self._labelling.flush()

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()


def _settle_collector() -> None:
    """What is loaded by now (rules, personas) lives as long as the process: the cyclic collector
    need not walk it again at every full collection (tens of ms each with the rule set loaded).
    And a young generation larger than the default 700 objects lets a turn of the event loop's
    short-lived objects (a batch of events being labelled) die before a collection sees them.
    Once a process: what a later sensor of the same process (tests) loads is left to the collector."""
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _drop_privileges(user: str | None, data_dir: Path) -> None:
    """After binding, run unprivileged: the sensor never needs root for anything else. Its data
    folder (spool, host keys, artifacts) is handed to that user so it can go on writing there."""
    if user is None or os.geteuid() != 0:
        return
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ServiceError(f"sensor.run_as: no such user {user!r}") from None
    for folder, dirs, files in os.walk(data_dir):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.chown(name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
