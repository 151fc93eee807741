"""POST /api/v1/events (ingest from sensors) and GET /api/v1/events (filtered, cursor-paged)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, Router, get, post
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from honeyguard.errors import AuthError
from honeyguard.model import Event
from honeyguard.server.auth import WrongKind
from honeyguard.server.context import collector_of
from honeyguard.server.decode import IngestError, check_ids, check_sensor, decode_events, inflate
from honeyguard.store.events import EventBatch, EventQuery

MAX_PAGE = 10_000


class IngestResult(msgspec.Struct, frozen=True):
    accepted: int  # newly stored
    duplicates: int  # already stored before (or repeated in the batch): ignored


BUSY_RETRY_SECONDS = 2


class EventPage(msgspec.Struct, frozen=True):
    """The shape of GET /api/v1/events (built without decoding the stored JSON)."""

    events: list[Event]
    next: str | None  # pass as ?after= for the next page; null when this page was the last


@post("/events", status_code=200, summary="Ingest a batch of events (gzip or plain NDJSON, or a JSON array)",
      description="Authorization: Bearer <sensor token>. Answers only after the batch is committed; "
      "events whose id is already stored are counted as duplicates.", opt={"auth": "sensor"})
async def ingest(request: Request[Any, Any, Any]) -> IngestResult:
    collector = collector_of(request)
    try:
        sensor = await collector.tokens.sensor_for(request.headers.get("authorization"))
    except WrongKind as exc:
        raise PermissionDeniedException(detail=str(exc)) from None
    except AuthError as exc:
        raise NotAuthorizedException(detail=str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    if collector.defense.overloaded:  # nothing read or stored: the sensor keeps the batch and retries
        raise HTTPException(status_code=503, detail="busy: indicators are catching up, retry later",
                            headers={"Retry-After": str(BUSY_RETRY_SECONDS)})
    body = await request.body()
    try:
        batch = await collector.decoder.run(_prepare, body, request.headers.get("content-encoding"), sensor)
    except IngestError as exc:
        raise HTTPException(status_code=exc.status, detail=exc.message) from None
    result = await collector.writer.insert(batch)
    new = batch.events if result.new_ids is None else [e for e in batch.events if e.id in result.new_ids]
    collector.defense.observe(list(new))  # only what this batch added: a retried batch counts once
    return IngestResult(accepted=result.accepted, duplicates=result.duplicates)


def _prepare(body: bytes, content_encoding: str | None, sensor: str) -> EventBatch:
    """Off the event loop: inflate, decode (validating every event) and check; the store lays out
    the columns from the text as received (EventBatch.from_received)."""
    events, raws = decode_events(inflate(body, content_encoding))
    check_sensor(events, sensor)
    check_ids(events)
    return EventBatch.from_received(events, raws)


@get("/events", summary="Events in id order, filtered; page with ?after=<next>",
     responses={200: ResponseSpec(data_container=EventPage, description="A page of events",
                                                 generate_examples=False)})
async def list_events(
    request: Request[Any, Any, Any],
    since: datetime | None = None,
    until: datetime | None = None,
    sensor: str | None = None,
    kind: str | None = None,
    src_ip: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 100,
) -> Response[bytes]:
    if after is not None:
        _check_event_id(after)
    query = EventQuery(since=_utc(since), until=_utc(until), sensor=sensor, kind=kind, src_ip=src_ip,
                       after=after, limit=limit)
    page = await asyncio.to_thread(collector_of(request).events.query, query)
    content = b"".join((b'{"events":[', ",".join(page.raws).encode("utf-8"), b'],"next":',
                        msgspec.json.encode(page.next), b"}"))
    return Response(content, media_type=MediaType.JSON)


def _check_event_id(value: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        raise HTTPException(status_code=400, detail="after: not an event id (a UUID)") from None


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


router = Router(path="/api/v1", route_handlers=[ingest, list_events], tags=["events"])
