"""kill -9 the collector while a sensor ships 100,000 events: after a restart, every event is
stored exactly once (the spool keeps what was not acknowledged; ingest ignores known ids)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from honeyguard.config import CollectorLink
from honeyguard.sensor.shipper import Shipper
from honeyguard.sensor.spool import Spool
from honeyguard.store.events import EventStore
from tests.server.helpers import CollectorProcess, EventMaker

TOTAL = 100_000


class ShipperThread:
    def __init__(self, spool: Spool, link: CollectorLink, token: str) -> None:
        self.spool, self.link, self.token = spool, link, token
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.stop_event = asyncio.Event()
            async with Shipper(self.spool, self.link, self.token) as shipper:
                await shipper.run(self.stop_event)

        self.loop.run_until_complete(main())

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        while self.stop_event is None:
            time.sleep(0.01)
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(60)
        assert not self.thread.is_alive()


def _wait_for(condition, what: str, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_kill_9_mid_stream_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path / "collector")
    token = collector.add_sensor("crash-sensor")
    collector.start()

    spool = Spool(tmp_path / "sensor" / "spool.sqlite", batch_size=5000)
    maker = EventMaker("crash-sensor", seed=21)
    start = datetime(2026, 8, 1, tzinfo=UTC)
    for i in range(TOTAL):
        spool.emit(maker.connect(start + timedelta(microseconds=i * 50), src_ip=f"198.18.{i % 250}.{i % 200}"))
    spool.flush()
    assert spool.pending() == TOTAL

    shipper = ShipperThread(spool, CollectorLink(url=collector.url, batch_size=2000, max_backoff=1.0,
                                                 flush_interval=0.1), token)
    shipper.start()
    _wait_for(lambda: spool.pending() <= TOTAL - 20_000, "a fifth of the events to be acknowledged")
    collector.kill()
    assert 0 < spool.pending() < TOTAL  # killed mid-way: some acknowledged, some not

    collector.start()
    _wait_for(lambda: spool.pending() == 0, "the spool to drain after the restart")
    shipper.stop()
    spool.close()
    assert collector.stop() == 0

    store = EventStore(collector.data_dir / "events.duckdb", read_only=True)
    assert store.count() == TOTAL
    assert store.count(distinct=True) == TOTAL
    store.close()
