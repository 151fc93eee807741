"""The one thread that writes to DuckDB: the event loop hands it batches and awaits the commit.

DuckDB allows one writing process, and an insert holds a core for milliseconds: doing it in
its own thread keeps the event loop answering (DuckDB releases the GIL while it works).
Batches that queued up while an insert ran go in together as one insert (fewer, larger inserts
measured about 13% less CPU per event), unless two of them share an event id or their ids
are far apart in time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import Collection
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from honeyguard.store.events import EventBatch, EventStore, InsertResult

#: At most this many events per coalesced insert.
MAX_COALESCED_ROWS = 50_000
#: Batches coalesce only when all their ids (UUIDv7: time-ordered) fall within this span: the
#: insert's duplicate check scans the stored id range of the whole insert, and one old backlog
#: batch next to a live one would widen it to every row group in between.
MAX_COALESCED_SPAN_MS = 10 * 60 * 1000

log = logging.getLogger(__name__)


@dataclass
class _Job:
    batch: EventBatch
    future: asyncio.Future[InsertResult]
    loop: asyncio.AbstractEventLoop


class EventWriter:
    def __init__(self, store: EventStore, *, max_queued: int = 64) -> None:
        self.store = store
        self._jobs: queue.Queue[_Job | None] = queue.Queue(max_queued)
        self._thread = threading.Thread(target=self._run, name="duckdb-writer", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return self._jobs.qsize()

    async def insert(self, batch: EventBatch) -> InsertResult:
        """Returns once the batch is committed (so the caller may acknowledge it)."""
        loop = asyncio.get_running_loop()
        job = _Job(batch, loop.create_future(), loop)
        try:
            self._jobs.put_nowait(job)
        except queue.Full:  # many writers at once: wait for room without blocking the loop
            await asyncio.to_thread(self._jobs.put, job)
        return await job.future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            jobs, stopping = self._take()
            if len(jobs) == 1:
                self._insert_one(jobs[0])
            elif jobs:
                self._insert_together(jobs)

    def _take(self) -> tuple[list[_Job], bool]:
        """The next job and those already waiting behind it (up to MAX_COALESCED_ROWS events);
        True once the stop sentinel was taken (after the jobs before it)."""
        job = self._jobs.get()
        if job is None:
            return [], True
        jobs, rows = [job], job.batch.table.num_rows
        while rows < MAX_COALESCED_ROWS:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
            rows += job.batch.table.num_rows
        return jobs, False

    def _insert_one(self, job: _Job) -> None:
        try:
            result = self.store.insert(job.batch)
        except BaseException as exc:
            job.loop.call_soon_threadsafe(_settle_error, job.future, exc)
        else:
            job.loop.call_soon_threadsafe(_settle, job.future, result)

    def _insert_together(self, jobs: list[_Job]) -> None:
        """One insert for several batches; each job gets its own share of the result. Batches that
        share an id (a retry racing its original) go one by one, so the first one stores it.
        The checks read the batches' id ranges (and the Arrow id column only when two overlap):
        no Python string per event on this thread."""
        tables = [job.batch.table for job in jobs]
        if not all(t.schema.equals(tables[0].schema) for t in tables):
            for job in jobs:
                self._insert_one(job)
            return
        table = pa.concat_tables(tables)
        ranges = sorted(job.batch.id_range for job in jobs)
        id_range = (ranges[0][0], max(hi for _, hi in ranges))
        shared = _overlapping(ranges) and pc.count_distinct(table.column("id")).as_py() != table.num_rows
        if shared or not _narrow(id_range):
            for job in jobs:
                self._insert_one(job)
            return
        events = [event for job in jobs for event in job.batch.events]
        try:
            result = self.store.insert(EventBatch(table, table.num_rows, events, id_range))
        except BaseException:  # let each batch fail (or succeed) on its own
            for job in jobs:
                self._insert_one(job)
            return
        for job in jobs:
            job.loop.call_soon_threadsafe(_settle, job.future, _share(job, result.new_ids))

    def close(self) -> None:
        """Finish the queued batches, then stop."""
        self._jobs.put(None)
        self._thread.join()


def _settle(future: asyncio.Future[InsertResult], result: InsertResult) -> None:
    if not future.done():
        future.set_result(result)


def _settle_error(future: asyncio.Future[InsertResult], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _overlapping(ranges: list[tuple[str, str]]) -> bool:
    """Whether any two of the (sorted) id ranges overlap: only then may two batches share an id
    (each batch's own ids are distinct)."""
    return any(later[0] <= earlier[1] for earlier, later in itertools.pairwise(ranges))


def _narrow(ids: Collection[str]) -> bool:
    """Whether the ids' UUIDv7 timestamps (their first 48 bits) span at most MAX_COALESCED_SPAN_MS."""
    try:
        lo, hi = (int(value[:8] + value[9:13], 16) for value in (min(ids), max(ids)))
    except ValueError:  # not UUIDs: the insert will say so, batch by batch
        return False
    return hi - lo <= MAX_COALESCED_SPAN_MS


def _share(job: _Job, new_ids: frozenset[str] | None) -> InsertResult:
    """This job's part of a coalesced insert's result (``new_ids`` None: every row was new)."""
    submitted, rows = job.batch.submitted, job.batch.table.num_rows
    if new_ids is None:
        return InsertResult(rows, submitted - rows)
    stored = frozenset(job.batch.table.column("id").to_pylist()) & new_ids
    return InsertResult(len(stored), submitted - len(stored), None if len(stored) == rows else stored)
