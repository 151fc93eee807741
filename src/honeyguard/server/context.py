"""What the routes share: the collector's stores and helpers, reached through the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from honeyguard.clock import Clock
from honeyguard.config import Settings
from honeyguard.server.auth import TokenCache
from honeyguard.server.decoder import BatchDecoder
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
    decoder: BatchDecoder  # decodes ingest batches off the event loop (the fold gives way to it)


def collector_of(request: Request[Any, Any, Any]) -> Collector:
    return request.app.state.collector  # type: ignore[no-any-return]
