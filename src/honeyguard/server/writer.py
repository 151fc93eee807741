"""The one thread that writes to DuckDB: the event loop hands it batches and awaits the commit.

DuckDB allows one writing process, and an insert holds a core for milliseconds: doing it in
its own thread keeps the event loop answering (DuckDB releases the GIL while it works).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass

from honeyguard.store.events import EventBatch, EventStore, InsertResult

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
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                result = self.store.insert(job.batch)
            except BaseException as exc:
                job.loop.call_soon_threadsafe(_settle_error, job.future, exc)
            else:
                job.loop.call_soon_threadsafe(_settle, job.future, result)

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
