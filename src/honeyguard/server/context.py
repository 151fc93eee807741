"""What the routes share: the collector's stores and helpers, reached through the request."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from litestar import Request

from honeyguard.clock import Clock
from honeyguard.config import Settings
from honeyguard.server.auth import TokenCache
from honeyguard.server.defense import Defense
from honeyguard.server.writer import EventWriter
from honeyguard.store.events import EventStore
from honeyguard.store.state import StateStore


@dataclass
class Collector:
    settings: Settings
    clock: Clock
    state: StateStore
    events: EventStore
    writer: EventWriter
    tokens: TokenCache
    defense: Defense
    #: Decodes ingest batches off the event loop. One thread: decoding holds the GIL, so more
    #: threads only contend; one decoder plus the DuckDB writer make a two-stage pipeline.
    decoder: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-decode"))


def collector_of(request: Request[Any, Any, Any]) -> Collector:
    return request.app.state.collector  # type: ignore[no-any-return]
