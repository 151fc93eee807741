"""Decisions: GET /api/v1/decisions, /api/v1/decisions/{value} (with the guardrail trace), and a
plain blocklist per export format for firewalls that pull a URL: GET /api/v1/blocklist/{format}."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from honeyguard.export import ExportError, exporter_registry, render
from honeyguard.model.decision import Decision
from honeyguard.server.context import collector_of


class DecisionPage(msgspec.Struct, frozen=True):
    decisions: list[Decision]


@get("/decisions", summary="Decisions in force (or every change after ?after_seq=)")
async def list_decisions(request: Request[Any, Any, Any], after_seq: int | None = None,
                         limit: Annotated[int, Parameter(ge=1, le=100_000)] = 1000) -> DecisionPage:
    collector = collector_of(request)
    store = collector.defense.decisions
    if after_seq is not None:
        return DecisionPage(decisions=await asyncio.to_thread(store.all, limit=limit, after_seq=after_seq))
    current = await asyncio.to_thread(store.active, collector.clock.now())
    return DecisionPage(decisions=sorted(current.values(), key=lambda d: (d.type, d.value))[:limit])


@get("/decisions/{value:path}", summary="Every decision about a value, newest first, with its guardrail trace")
async def explain_decisions(request: Request[Any, Any, Any], value: str) -> DecisionPage:
    found = await asyncio.to_thread(collector_of(request).defense.decisions.for_value, value.lstrip("/"))
    if not found:
        raise NotFoundException(detail=f"no decision for {value!r}")
    return DecisionPage(decisions=found)


@get("/blocklist/{name:str}", summary="The decisions in force in one export format (txt, nftables, rpz, ...)")
async def blocklist(request: Request[Any, Any, Any], name: str) -> Response[str]:
    collector = collector_of(request)
    if name not in exporter_registry():
        raise NotFoundException(detail=f"unknown format {name!r} (known: {', '.join(sorted(exporter_registry()))})")
    now = collector.clock.now()
    current = await asyncio.to_thread(collector.defense.decisions.active, now)
    try:
        text = await asyncio.to_thread(render, name, list(current.values()), now)
    except ExportError as exc:
        raise NotFoundException(detail=str(exc)) from None
    media = MediaType.JSON if text.lstrip().startswith("{") else MediaType.TEXT
    return Response(text, media_type=media)


router = Router(path="/api/v1", route_handlers=[list_decisions, explain_decisions, blocklist], tags=["decisions"])
