"""The DuckDB writer thread: batches queued together go in as one insert, each caller still
gets its own batch's result, and a batch racing its own retry stores every event once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from honeyguard.model import Event
from honeyguard.server.writer import EventWriter, _Job, _narrow
from honeyguard.store.events import EventBatch, EventStore, InsertResult
from tests.server.helpers import EventMaker

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _events(count: int) -> list[Event]:
    maker = EventMaker("s1")
    return [maker.connect(T0 + timedelta(seconds=i)) for i in range(count)]


async def _together(writer: EventWriter, batches: list[EventBatch]) -> list[InsertResult]:
    """Runs the coalesced insert path directly (queue timing would make it a matter of luck)."""
    loop = asyncio.get_running_loop()
    jobs = [_Job(batch, loop.create_future(), loop) for batch in batches]
    await asyncio.to_thread(writer._insert_together, jobs)
    return [await job.future for job in jobs]


def test_coalesced_batches_each_get_their_own_share(tmp_path: Path) -> None:
    events = _events(100)
    store = EventStore(tmp_path / "e.duckdb")
    writer = EventWriter(store)
    try:
        store.insert(EventBatch.from_events(events[:10]))  # already stored before the coalesced insert
        first, second = asyncio.run(_together(writer, [
            EventBatch.from_events(events[:50] + events[:5]),  # 10 stored already, 5 repeated inside
            EventBatch.from_events(events[50:]),
        ]))
    finally:
        writer.close()
    assert (first.accepted, first.duplicates) == (40, 15)
    assert first.new_ids == frozenset(e.id for e in events[10:50])
    assert second == InsertResult(50, 0)
    assert store.count() == store.count(distinct=True) == 100
    store.close()


def test_batches_sharing_ids_store_them_once_for_the_first(tmp_path: Path) -> None:
    events = _events(30)
    store = EventStore(tmp_path / "e.duckdb")
    writer = EventWriter(store)
    try:
        original, retry = asyncio.run(_together(writer, [
            EventBatch.from_events(events[:20]), EventBatch.from_events(events[10:]),
        ]))
    finally:
        writer.close()
    assert original == InsertResult(20, 0)
    assert (retry.accepted, retry.duplicates) == (10, 10)
    assert retry.new_ids == frozenset(e.id for e in events[20:])
    assert store.count() == store.count(distinct=True) == 30
    store.close()


def test_many_concurrent_inserts_store_everything_once(tmp_path: Path) -> None:
    events = _events(400)
    store = EventStore(tmp_path / "e.duckdb")
    writer = EventWriter(store, max_queued=4)

    async def post_all() -> list[InsertResult]:
        batches = [EventBatch.from_events(events[i:i + 50]) for i in range(0, 400, 50)]
        batches.append(EventBatch.from_events(events[100:150]))  # a retry of the third batch
        return list(await asyncio.gather(*(writer.insert(b) for b in batches)))

    try:
        results = asyncio.run(post_all())
    finally:
        writer.close()
    assert sum(r.accepted for r in results) == 400
    assert sum(r.duplicates for r in results) == 50
    assert store.count() == store.count(distinct=True) == 400
    store.close()


class _CountingStore(EventStore):
    inserts = 0

    def insert(self, batch: EventBatch) -> InsertResult:
        self.inserts += 1
        return super().insert(batch)


def test_interleaved_batches_without_shared_ids_still_go_in_as_one(tmp_path: Path) -> None:
    """Two sensors posting at once: their id ranges overlap, their ids do not."""
    events = _events(60)
    store = _CountingStore(tmp_path / "e.duckdb")
    writer = EventWriter(store)
    try:
        results = asyncio.run(_together(writer, [EventBatch.from_events(events[0::2]),
                                                 EventBatch.from_events(events[1::2])]))
    finally:
        writer.close()
    assert results == [InsertResult(30, 0), InsertResult(30, 0)]
    assert store.inserts == 1
    assert store.count() == store.count(distinct=True) == 60
    store.close()


def test_a_batch_knows_its_id_range_without_asking_arrow() -> None:
    events = _events(20)[::-1]
    built = EventBatch.from_events(events)
    assert built.id_range == (min(e.id for e in events), max(e.id for e in events))
    assert EventBatch(built.table, 20).id_range == built.id_range  # read from the table when not given


def test_only_ids_close_in_time_coalesce() -> None:
    maker = EventMaker("s1")
    now, soon, tomorrow = (maker.connect(T0 + delta).id for delta in
                           (timedelta(0), timedelta(minutes=5), timedelta(days=1)))
    assert _narrow(frozenset({now, soon}))
    assert not _narrow(frozenset({now, soon, tomorrow}))
    assert not _narrow(frozenset({now, "not-a-uuid"}))
