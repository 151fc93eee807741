"""The thread that decodes ingest batches, and the defense loop's fold giving way to it.

Decoding a batch (inflate, decode with validation, checks) is part of a sensor's wait for its
acknowledgement; the defense loop's fold is not (it may run behind, up to
``server.defense_backlog`` events). Both hold the GIL, and two threads that want it take turns
at the switch interval: a 5,000-event batch decoded in about 12 ms alone took 40 ms (median) beside
a fold, and the DuckDB writer, fed later, idled between inserts. The fold calls ``give_way``
between its slices and pauses while a batch decodes: ingest measured about 5% more events/s
(alternated runs), the fold still caught up within the same second after the last batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: How long the fold pauses, between two slices (about half a millisecond of folding each), while
#: a batch decodes.
PAUSE_SECONDS = 0.001


class BatchDecoder:
    """Runs decoding work on its own thread (one: decoding holds the GIL, so more threads only
    contend; one decoder plus the DuckDB writer make a two-stage pipeline), counting the batches
    under way."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-decode")
        self._sleep = sleep
        self._under_way = 0  # changed on the event loop only; read by the defense loop's thread

    @property
    def under_way(self) -> int:
        return self._under_way

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(*args)`` on the decoding thread."""
        self._under_way += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: work(*args, **kwargs))
        finally:
            self._under_way -= 1

    def give_way(self) -> None:
        """Called by the fold between slices: pause while a batch decodes."""
        if self._under_way:
            self._sleep(PAUSE_SECONDS)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
