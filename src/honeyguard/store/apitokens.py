"""API tokens for people and tools that read the collector's API (roles ``reader`` and ``admin``).

Like sensor tokens, only the token's SHA-256 is stored: a copy of the database does not let anyone
read the API. Revoking keeps the row (so ``token list`` shows who had access until when).
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime
from typing import Literal

import msgspec
import sqlalchemy as sa

from honeyguard.clock import Clock, Entropy, SystemClock, SystemEntropy
from honeyguard.errors import AuthError, StoreError
from honeyguard.store.state import METADATA, StateStore, UTCDateTime, hash_token

Role = Literal["reader", "admin"]
ROLES: tuple[Role, ...] = ("reader", "admin")
TOKEN_PREFIX = "hga_"  # sensor tokens start with hgs_: a token in a log says what it opens
_TOKEN_BYTES = 32
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")

api_tokens = sa.Table(
    "api_tokens", METADATA,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)


class ApiToken(msgspec.Struct, frozen=True):
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


class ApiTokens:
    def __init__(self, state: StateStore, *, clock: Clock | None = None, entropy: Entropy | None = None) -> None:
        self._state = state
        self._clock = clock or SystemClock()
        self._entropy = entropy or SystemEntropy()

    def add(self, name: str, role: str, *, replace: bool = False) -> str:
        """Create token ``name`` with ``role`` and return it (shown once; only its hash is kept).
        A revoked name may be reused; a live one only with ``replace`` (the old token stops working)."""
        if not _NAME.match(name):
            raise StoreError(f"invalid token name {name!r} (letters, digits, '.', '_', '@', '-'; at most 128)")
        if role not in ROLES:
            raise StoreError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
        token = TOKEN_PREFIX + self._entropy.randbits(_TOKEN_BYTES * 8).to_bytes(_TOKEN_BYTES, "big").hex()
        row = {"name": name, "role": role, "token_sha256": hash_token(token),
               "created_at": self._clock.now(), "revoked_at": None}
        with self._state.engine.begin() as conn:
            existing = conn.execute(sa.select(api_tokens.c.revoked_at).where(api_tokens.c.name == name)).first()
            if existing is not None and existing.revoked_at is None and not replace:
                raise StoreError(f"token {name!r} already exists (revoke it first, or use --replace)")
            if existing is not None:
                conn.execute(api_tokens.update().where(api_tokens.c.name == name).values(**row))
            else:
                conn.execute(api_tokens.insert().values(**row))
        return token

    def revoke(self, name: str) -> None:
        with self._state.engine.begin() as conn:
            done = conn.execute(api_tokens.update()
                                .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
                                .values(revoked_at=self._clock.now()))
        if done.rowcount == 0:
            raise StoreError(f"no live token named {name!r}")

    def list(self) -> list[ApiToken]:
        with self._state.engine.connect() as conn:
            rows = conn.execute(sa.select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.created_at,
                                          api_tokens.c.revoked_at).order_by(api_tokens.c.name))
            return [ApiToken(name=r.name, role=r.role, created_at=r.created_at, revoked_at=r.revoked_at)
                    for r in rows]

    def verify(self, token: str | None) -> ApiToken:
        """The live token ``token`` is; AuthError when missing, unknown or revoked."""
        if not token:
            raise AuthError("missing API token")
        digest = hash_token(token)
        with self._state.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_sha256 == digest)).first()
        # the lookup is by hash; the comparison that decides is constant-time all the same
        if row is None or not hmac.compare_digest(row.token_sha256, digest) or row.revoked_at is not None:
            raise AuthError("unknown or revoked API token")
        return ApiToken(name=row.name, role=row.role, created_at=row.created_at, revoked_at=None)
