"""The CrowdSec Local API endpoints bouncers use, so existing CrowdSec bouncers enforce
honeyguard's decisions unchanged: GET /v1/decisions/stream and GET /v1/decisions (X-Api-Key)."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.exceptions import NotAuthorizedException

from honeyguard.errors import AuthError
from honeyguard.model.decision import Decision
from honeyguard.server.context import collector_of
from honeyguard.store.decisions import DecisionStore, StreamRow

_SCOPES = {"ip": "Ip", "cidr": "Range"}


class LapiDecision(msgspec.Struct, frozen=True):
    """A decision as CrowdSec's models.Decision spells it."""

    id: int
    origin: str
    type: str
    scope: str
    value: str
    duration: str
    scenario: str
    simulated: bool = False
    uuid: str = ""


class LapiStream(msgspec.Struct, frozen=True):
    new: list[LapiDecision] | None
    deleted: list[LapiDecision] | None


def go_duration(seconds: float) -> str:
    """Go's time.Duration text (what bouncers parse): 3h59m58s, -1s for what is over."""
    if seconds <= 0:
        return "-1s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def enforced_by_bouncers(decision: Decision) -> bool:
    """Bouncers block sources: ingress drops of addresses and ranges, never simulated ones."""
    return (decision.action == "drop" and decision.type in _SCOPES and decision.direction in ("ingress", "both")
            and not decision.simulated)


def to_lapi(row: StreamRow, now: datetime, *, deleted: bool = False) -> LapiDecision:
    d = row.decision
    left = -1.0 if deleted else (d.expires_at - now).total_seconds()
    scope = _SCOPES[d.type]
    value = d.value
    if scope == "Range":
        value = str(ipaddress.ip_network(value, strict=False))
    return LapiDecision(id=row.num, origin="honeyguard" if d.origin == "auto" else f"honeyguard-{d.origin}",
                        type="ban", scope=scope, value=value, duration=go_duration(left),
                        scenario=f"honeyguard/{'-'.join(d.roles) or 'manual'} conf={d.confidence}",
                        uuid=d.id)


def _is_current(d: Decision, now: datetime) -> bool:
    return d.withdrawn_at is None and d.expires_at > now


def stream_for(store: DecisionStore, key: str | None, startup: bool, now: datetime) -> LapiStream:
    name, last = store.bouncer_for_key(key)
    if startup:
        rows = [r for r in store.current_with_numbers(now) if enforced_by_bouncers(r.decision)]
        store.mark_pulled(name, store.latest_seq())
        return LapiStream(new=[to_lapi(r, now) for r in rows] or None, deleted=None)
    changed, top = store.changes_since(last)
    store.mark_pulled(name, top)
    relevant = [r for r in changed if enforced_by_bouncers(r.decision)]
    new = [to_lapi(r, now) for r in relevant if _is_current(r.decision, now)]
    gone = [to_lapi(r, now, deleted=True) for r in relevant if not _is_current(r.decision, now)]
    return LapiStream(new=new or None, deleted=gone or None)


def _key(request: Request[Any, Any, Any]) -> str | None:
    return request.headers.get("x-api-key")


@get("/decisions/stream", summary="CrowdSec bouncer stream: new and deleted decisions since the last pull")
async def decisions_stream(request: Request[Any, Any, Any], startup: bool = False) -> LapiStream:
    collector = collector_of(request)
    try:
        return await asyncio.to_thread(stream_for, collector.defense.decisions, _key(request), startup,
                                       collector.clock.now())
    except AuthError as exc:
        raise NotAuthorizedException(detail=str(exc)) from None


@get("/decisions", summary="CrowdSec bouncer query: decisions in force for one address")
async def decisions_for_ip(request: Request[Any, Any, Any], ip: str | None = None,
                           range: str | None = None) -> Response[bytes]:
    collector = collector_of(request)
    store = collector.defense.decisions
    try:
        await asyncio.to_thread(store.bouncer_for_key, _key(request))
    except AuthError as exc:
        raise NotAuthorizedException(detail=str(exc)) from None
    now = collector.clock.now()
    rows = await asyncio.to_thread(store.current_with_numbers, now)
    target = _network(ip or range)
    found = [to_lapi(r, now) for r in rows if enforced_by_bouncers(r.decision)
             and (target is None or _overlaps(r.decision.value, target))]
    return Response(msgspec.json.encode(found or None), media_type="application/json")


def _network(value: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not value:
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _overlaps(value: str, target: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    net = _network(value)
    return net is not None and net.version == target.version and net.overlaps(target)


@post("/usage-metrics", status_code=201, summary="Accepts bouncer usage metrics (kept nowhere)")
async def usage_metrics(request: Request[Any, Any, Any]) -> None:
    try:
        await asyncio.to_thread(collector_of(request).defense.decisions.bouncer_for_key, _key(request))
    except AuthError as exc:
        raise NotAuthorizedException(detail=str(exc)) from None


router = Router(path="/v1", route_handlers=[decisions_stream, decisions_for_ip, usage_metrics],
                tags=["crowdsec bouncer API"], opt={"auth": "bouncer"})  # X-Api-Key, checked per route
