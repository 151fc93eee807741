"""Indicators and findings: GET /api/v1/indicators, /api/v1/indicators/{value}, /api/v1/findings."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from honeyguard.intel.scoring import Score
from honeyguard.model.finding import Finding
from honeyguard.model.indicator import Indicator
from honeyguard.server.context import collector_of


class IndicatorPage(msgspec.Struct, frozen=True):
    indicators: list[Indicator]
    total: int
    next: int | None  # pass as ?offset= for the next page


class Explained(msgspec.Struct, frozen=True):
    indicator: Indicator
    score: Score
    verified_by: str


class FindingPage(msgspec.Struct, frozen=True):
    findings: list[Finding]


@get("/indicators", summary="Indicators, filtered by type, role, state, confidence and change time; paged")
async def list_indicators(
    request: Request[Any, Any, Any],
    type: str | None = None,
    role: str | None = None,
    state_: Annotated[str | None, Parameter(query="state")] = None,  # "state" is Litestar's own kwarg
    min_confidence: Annotated[int, Parameter(ge=0, le=100)] = 0,
    changed_since: datetime | None = None,
    offset: Annotated[int, Parameter(ge=0)] = 0,
    limit: Annotated[int, Parameter(ge=1, le=10_000)] = 100,
) -> IndicatorPage:
    defense = collector_of(request).defense

    def select() -> IndicatorPage:
        with defense.lock:
            every = defense.intel.indicators()
        chosen = [i for i in every if (type is None or i.type == type) and (role is None or role in i.roles)
                  and (state_ is None or i.state == state_) and i.confidence >= min_confidence
                  and (changed_since is None or i.last_seen >= changed_since)]
        chosen.sort(key=lambda i: (-i.confidence, i.type, i.value))
        page = chosen[offset:offset + limit]
        more = offset + limit < len(chosen)
        return IndicatorPage(indicators=page, total=len(chosen), next=offset + limit if more else None)

    return await asyncio.to_thread(select)


@get("/indicators/{value:path}", summary="One value's indicators, each with the terms of its score")
async def explain_indicator(request: Request[Any, Any, Any], value: str) -> list[Explained]:
    defense = collector_of(request).defense
    value = value.lstrip("/")

    def explain() -> list[Explained]:
        with defense.lock:
            found = defense.intel.explain(value)
        return [Explained(indicator=e.indicator, score=e.score, verified_by=e.verified_by) for e in found]

    result = await asyncio.to_thread(explain)
    if not result:
        raise NotFoundException(detail=f"no indicator for {value!r}")
    return result


@get("/findings", summary="Findings about our own assets (infected instances, scanners, keys)")
async def list_findings(request: Request[Any, Any, Any], kind: str | None = None, subject: str | None = None,
                        limit: Annotated[int, Parameter(ge=1, le=10_000)] = 1000) -> FindingPage:
    store = collector_of(request).defense.intel.store
    found = await asyncio.to_thread(store.findings, kind=kind, subject=subject, limit=limit)
    return FindingPage(findings=found)


router = Router(path="/api/v1", route_handlers=[list_indicators, explain_indicator, list_findings],
                tags=["intelligence"])
