"""Who is asking: bearer tokens (sensor tokens, API tokens with a role) checked against the state
store with a short positive cache, and the guard that decides what each kind may do.

- sensor tokens (``hgs_...``) may only ingest (POST /api/v1/events);
- API tokens (``hga_...``) of role ``reader`` may read, ``admin`` may read and administer;
- bouncer keys (``X-Api-Key``) only open the CrowdSec endpoints under /v1 (checked there).

Reads need a token when ``server.require_auth`` says so; by default they do unless the collector
listens on loopback only. A missing or unknown credential is 401, a valid one of the wrong kind 403.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any, Literal

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from honeyguard.clock import Clock
from honeyguard.config import ServerSettings
from honeyguard.errors import AuthError
from honeyguard.store.apitokens import ApiTokens
from honeyguard.store.state import StateStore, hash_token

#: How long a verified token is trusted without asking the state store again (so a revoked token
#: keeps working on a running collector for at most this long).
TOKEN_CACHE_SECONDS = 30.0
_MAX_CACHED = 10_000

Kind = Literal["sensor", "reader", "admin"]
#: What a route needs, in its ``opt={"auth": ...}``; routes without it need "read".
Need = Literal["public", "sensor", "bouncer", "read", "admin"]
_MAY: dict[str, frozenset[Kind]] = {"read": frozenset({"reader", "admin"}), "admin": frozenset({"admin"})}


class Principal(msgspec.Struct, frozen=True):
    kind: Kind
    name: str


class WrongKind(AuthError):
    """A valid credential that does not open this endpoint (answered 403, not 401)."""


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def reads_need_token(server: ServerSettings) -> bool:
    """``server.require_auth``, defaulting to True unless the collector binds a loopback address."""
    if server.require_auth is not None:
        return server.require_auth
    return not is_loopback(server.host)


class TokenCache:
    def __init__(self, state: StateStore, clock: Clock) -> None:
        self._state = state
        self._api = ApiTokens(state, clock=clock)
        self._clock = clock
        self._known: dict[str, tuple[Principal, float]] = {}  # token hash -> (principal, valid until)

    async def principal_for(self, authorization: str | None) -> Principal:
        """Whose ``Bearer`` header this is; AuthError when missing or unknown."""
        token = _bearer(authorization)
        key = hash_token(token)
        now = self._clock.monotonic()
        cached = self._known.get(key)
        if cached and cached[1] > now:
            return cached[0]
        principal = await asyncio.to_thread(self._lookup, token)
        if len(self._known) >= _MAX_CACHED:
            self._known.clear()
        self._known[key] = (principal, now + TOKEN_CACHE_SECONDS)
        return principal

    async def sensor_for(self, authorization: str | None) -> str:
        """The sensor a ``Bearer`` header belongs to; AuthError when missing or wrong, WrongKind
        when it is an API token."""
        principal = await self.principal_for(authorization)
        if principal.kind != "sensor":
            raise WrongKind(f"API token {principal.name!r} ({principal.kind}) may not ingest events; "
                            "use the sensor's token")
        return principal.name

    def _lookup(self, token: str) -> Principal:
        try:
            return Principal(kind="sensor", name=self._state.verify_token(token))
        except AuthError:
            pass
        try:
            found = self._api.verify(token)
        except AuthError:
            raise AuthError("unknown token") from None
        return Principal(kind=found.role, name=found.name)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization must be 'Bearer <token>'")
    return token.strip()


def unauthorized(message: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail=message, headers={"WWW-Authenticate": "Bearer"})


async def api_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Every route passes here (deny by default): a route that does not say otherwise needs "read"."""
    need: Need = handler.opt.get("auth", "read")
    if need in ("public", "sensor", "bouncer") or connection.scope["path"].startswith("/schema"):
        return  # ingest and the bouncer API check their own credentials; health and docs are open
    collector = connection.app.state.collector
    if need == "read" and not reads_need_token(collector.settings.server):
        return
    authorization = connection.headers.get("authorization")
    if not authorization and connection.headers.get("x-api-key"):
        await _refuse_bouncer_key(collector, connection.headers["x-api-key"])
    try:
        principal: Principal = await collector.tokens.principal_for(authorization)
    except AuthError as exc:
        raise unauthorized(str(exc)) from None
    if principal.kind not in _MAY[need]:
        what = "sensor tokens may only ingest events" if principal.kind == "sensor" else f"this needs role {need}"
        raise PermissionDeniedException(detail=f"{principal.kind} {principal.name!r}: {what}")


async def _refuse_bouncer_key(collector: Any, key: str) -> None:
    """A valid bouncer key is a known caller of the wrong kind (403); anything else is 401."""
    try:
        name, _ = await asyncio.to_thread(collector.defense.decisions.bouncer_for_key, key)
    except AuthError:
        raise unauthorized("unknown X-Api-Key; the API needs Authorization: Bearer <token>") from None
    raise PermissionDeniedException(detail=f"bouncer {name!r}: bouncer keys may only use /v1/decisions")
