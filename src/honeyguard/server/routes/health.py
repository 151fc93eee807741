"""GET /api/v1/health: is the collector up, and how far behind is its writer."""

from __future__ import annotations

import msgspec
from litestar import Request, Router, get

from honeyguard import __version__
from honeyguard.server.context import collector_of


class Health(msgspec.Struct, frozen=True):
    status: str
    version: str
    writer_queue: int


@get("/health", sync_to_thread=False)
def health(request: Request) -> Health:  # type: ignore[type-arg]
    return Health(status="ok", version=__version__, writer_queue=collector_of(request).writer.queued)


router = Router(path="/api/v1", route_handlers=[health], tags=["health"], opt={"auth": "public"})
