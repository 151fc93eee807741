"""Fixtures shared by every test: real tools on PATH, free loopback ports, a sensor in a thread."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from honeyguard.clock import SeededEntropy
from honeyguard.config import HoneytokenSettings, Limits, Listener, SensorSettings, SshSettings
from honeyguard.sensor.sensor import Sensor
from honeyguard.sensor.sinks import MemorySink

os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def tool(name: str) -> str:
    """The path of a real client the test drives. Missing is a failure: `make test` installs it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run `make test` (scripts/system-deps.sh installs it)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SensorThread:
    """A real sensor on loopback, run in a background thread with its own event loop."""

    def __init__(self, settings: SensorSettings, data_dir: Path, labeler=None) -> None:  # type: ignore[no-untyped-def]
        self.sink = MemorySink()
        self.settings = settings
        self.sensor = Sensor(settings, sink=self.sink, data_dir=data_dir, labeler=labeler,
                             entropy=SeededEntropy(7))
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            try:
                await self.sensor.start()
            except BaseException as exc:
                self._error = exc
                self._started.set()
                return
            self._started.set()
            await self._stop.wait()
            await self.sensor.stop()

        self._loop.run_until_complete(main())

    def start(self) -> SensorThread:
        self._thread.start()
        self._started.wait(20)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)

    def port(self, service: str) -> int:
        for listener in self.settings.listeners:
            if listener.service == service:
                return listener.bind_port or listener.port
        raise KeyError(service)


@pytest.fixture
def make_sensor(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Start sensors: make_sensor(services=["http"], limits=..., ssh=..., labeler=...)."""
    started: list[SensorThread] = []

    def factory(services: list[str] | None = None, *, limits: Limits | None = None,
                ssh: SshSettings | None = None, personas: dict[str, str] | None = None,
                tls: bool = False, name: str = "test-sensor", location: str = "lab",
                labeler=None, honeytokens: bool = False) -> SensorThread:  # type: ignore[no-untyped-def]
        personas = personas or {}
        listeners = [
            Listener(service=s, port=free_port(), persona=personas.get(s), tls=tls and s == "http")
            for s in (services or ["http"])
        ]
        settings = SensorSettings(name=name, location=location, listeners=listeners,
                                  limits=limits or Limits(), ssh=ssh or SshSettings(),
                                  honeytokens=HoneytokenSettings(enabled=honeytokens))
        thread = SensorThread(settings, tmp_path / f"sensor-{len(started)}", labeler=labeler).start()
        started.append(thread)
        return thread

    yield factory
    for thread in started:
        thread.stop()
