"""Sensor bearer tokens, checked against the state store with a short positive cache."""

from __future__ import annotations

import asyncio

from honeyguard.clock import Clock
from honeyguard.errors import AuthError
from honeyguard.store.state import StateStore, hash_token

#: How long a verified token is trusted without asking the state store again.
TOKEN_CACHE_SECONDS = 30.0
_MAX_CACHED = 10_000


class TokenCache:
    def __init__(self, state: StateStore, clock: Clock) -> None:
        self._state = state
        self._clock = clock
        self._known: dict[str, tuple[str, float]] = {}  # token hash -> (sensor, valid until)

    async def sensor_for(self, authorization: str | None) -> str:
        """The sensor a ``Bearer`` header belongs to; AuthError when missing or wrong."""
        token = _bearer(authorization)
        key = hash_token(token)
        now = self._clock.monotonic()
        cached = self._known.get(key)
        if cached and cached[1] > now:
            return cached[0]
        sensor = await asyncio.to_thread(self._state.verify_token, token)
        if len(self._known) >= _MAX_CACHED:
            self._known.clear()
        self._known[key] = (sensor, now + TOKEN_CACHE_SECONDS)
        return sensor


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("missing Authorization: Bearer <sensor token>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization must be 'Bearer <sensor token>'")
    return token.strip()
