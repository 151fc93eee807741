"""The collector application: ``create_app(settings)`` wires the stores to the routes.

Route modules live in server/routes/; ROUTERS below is the one list of them (add yours there).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.openapi.config import OpenAPIConfig

from honeyguard import __version__
from honeyguard.clock import Clock, SystemClock
from honeyguard.config import Settings
from honeyguard.server import nats_ingest
from honeyguard.server.auth import TokenCache, api_guard
from honeyguard.server.context import Collector
from honeyguard.server.decoder import BatchDecoder
from honeyguard.server.defense import Defense, stored_events
from honeyguard.server.routes import bouncer, decisions, events, health, intel
from honeyguard.server.writer import EventWriter
from honeyguard.store.events import EventStore
from honeyguard.store.state import StateStore

#: Every router of the API, in one place.
ROUTERS: list[Router] = [
    events.router,
    health.router,
    intel.router,
    decisions.router,
    bouncer.router,
]

MAX_REQUEST_BYTES = 64 * 1024 * 1024  # one compressed ingest batch


def create_app(settings: Settings, *, clock: Clock | None = None, state: StateStore | None = None,
               events: EventStore | None = None) -> Litestar:
    """The collector API. Stores not handed in open when the app starts; all close when it stops
    (``serve`` opens them first, so that a locked or unreadable store is one clear error)."""
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state_store = state or StateStore(settings.state_url, clock=clock)
        store = events or EventStore(settings.path(settings.server.events_db))
        writer = EventWriter(store)
        decoder = BatchDecoder()
        defense = Defense(settings, state_store, clock, give_way=decoder.give_way)
        # Indicators are derived: rebuilt from what is stored before the first batch is accepted.
        await asyncio.to_thread(defense.load, stored_events(store))
        loop_task = asyncio.create_task(defense.run(), name="defense")
        app.state.collector = Collector(settings=settings, clock=clock, state=state_store, events=store,
                                        writer=writer, tokens=TokenCache(state_store, clock), defense=defense,
                                        decoder=decoder)
        nats_task = nats_ingest.start(app.state.collector)  # server.nats: also consume JetStream
        try:
            yield
        finally:
            if nats_task is not None:  # unacknowledged batches are redelivered; stop before the writer
                nats_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await nats_task
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
            decoder.shutdown()
            writer.close()
            store.close()
            state_store.close()

    return Litestar(
        route_handlers=ROUTERS,
        guards=[api_guard],  # deny by default: reads need a reader token when auth is on
        lifespan=[lifespan],
        request_max_body_size=MAX_REQUEST_BYTES,
        openapi_config=OpenAPIConfig(title="honeyguard collector", version=__version__),
        debug=False,
        logging_config=None,
    )
