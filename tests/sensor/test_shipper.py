"""The shipper: acknowledged batches leave the spool; failures back off with jitter (fake clock)."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.config import CollectorLink
from honeyguard.model import decode_event
from honeyguard.sensor.shipper import Backoff, Shipper
from honeyguard.sensor.spool import Spool
from tests.server.helpers import EventMaker

T0 = datetime(2026, 7, 1, tzinfo=UTC)


class ScriptedCollector:
    """Answers with the next status of a script (an exception means "unreachable"), records bodies."""

    def __init__(self, script: list[int | type[Exception]]) -> None:
        self.script = script
        self.received: list[list[str]] = []
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, type):
            raise step("collector down", request=request)  # type: ignore[call-arg]
        self.headers.append(request.headers)
        if step == 200:
            lines = gzip.decompress(request.content).split(b"\n")
            self.received.append([decode_event(line).id for line in lines])
        return httpx.Response(step, json={"accepted": 0, "duplicates": 0})


class FakeSleeper:
    """Records each pause, moves the fake clock, and stops the shipper once the spool is empty."""

    def __init__(self, clock: FakeClock, spool: Spool, stop: asyncio.Event, max_pauses: int = 100) -> None:
        self.clock, self.spool, self.stop = clock, spool, stop
        self.pauses: list[float] = []
        self.max_pauses = max_pauses

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.advance(seconds)
        if self.spool.pending() == 0 or len(self.pauses) >= self.max_pauses:
            self.stop.set()


def _spool_with(tmp_path: Path, n: int) -> tuple[Spool, list[str]]:
    maker = EventMaker("s1", seed=4)
    events = [maker.connect(T0 + timedelta(milliseconds=i)) for i in range(n)]
    spool = Spool(tmp_path / "spool.sqlite")
    for event in events:
        spool.emit(event)
    spool.flush()
    return spool, [e.id for e in events]


def _ship(spool: Spool, collector: ScriptedCollector, link: CollectorLink, max_pauses: int = 100
          ) -> tuple[Shipper, FakeSleeper]:
    async def main() -> tuple[Shipper, FakeSleeper]:
        stop = asyncio.Event()
        clock = FakeClock()
        sleeper = FakeSleeper(clock, spool, stop, max_pauses)
        client = httpx.AsyncClient(transport=httpx.MockTransport(collector))
        async with Shipper(spool, link, "hgs_token", clock=clock, entropy=SeededEntropy(1), sleep=sleeper,
                           client=client) as shipper:
            await shipper.run(stop)
        await client.aclose()
        return shipper, sleeper

    return asyncio.run(main())


def test_batches_are_shipped_in_order_and_acknowledged(tmp_path: Path) -> None:
    spool, ids = _spool_with(tmp_path, 250)
    collector = ScriptedCollector([])
    shipper, _ = _ship(spool, collector, CollectorLink(batch_size=100))
    assert [len(batch) for batch in collector.received] == [100, 100, 50]
    assert [i for batch in collector.received for i in batch] == ids
    assert spool.pending() == 0 and shipper.shipped == 250
    sent = collector.headers[0]
    assert sent["authorization"] == "Bearer hgs_token"
    assert sent["content-encoding"] == "gzip"
    assert sent["content-type"] == "application/x-ndjson"


def test_failures_back_off_exponentially_with_jitter_up_to_the_cap(tmp_path: Path) -> None:
    spool, ids = _spool_with(tmp_path, 30)
    script: list[int | type[Exception]] = [503, httpx.ConnectError, 500, 502, httpx.ReadTimeout, 503, 503]
    collector = ScriptedCollector(script)
    _, sleeper = _ship(spool, collector, CollectorLink(batch_size=100, max_backoff=5.0))
    retries = sleeper.pauses[:7]
    ceilings = [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    for pause, ceiling in zip(retries, ceilings, strict=True):
        assert ceiling / 2 <= pause <= ceiling
    assert len(set(retries)) == len(retries)  # jittered: no two the same
    assert [i for batch in collector.received for i in batch] == ids  # kept through every failure, then delivered once
    assert spool.pending() == 0


def test_jitter_is_reproducible_from_the_entropy() -> None:
    first = [Backoff(30, SeededEntropy(9)).delay(a) for a in range(8)]
    again = [Backoff(30, SeededEntropy(9)).delay(a) for a in range(8)]
    other = [Backoff(30, SeededEntropy(10)).delay(a) for a in range(8)]
    assert first == again != other


@pytest.mark.parametrize("refusal", [401, 403])
def test_a_refused_token_is_retried_slowly_and_the_events_kept(tmp_path: Path, refusal: int) -> None:
    spool, ids = _spool_with(tmp_path, 10)
    collector = ScriptedCollector([refusal] * 3)
    _, sleeper = _ship(spool, collector, CollectorLink(max_backoff=30.0))
    assert sleeper.pauses[:3] == [30.0, 30.0, 30.0]
    assert [i for batch in collector.received for i in batch] == ids


def test_without_a_collector_events_stay_spooled(tmp_path: Path) -> None:
    spool, _ = _spool_with(tmp_path, 10)
    collector = ScriptedCollector([httpx.ConnectError] * 1000)
    shipper, sleeper = _ship(spool, collector, CollectorLink(max_backoff=8.0), max_pauses=20)
    assert spool.pending() == 10 and shipper.failures == 20
    assert max(sleeper.pauses) <= 8.0
