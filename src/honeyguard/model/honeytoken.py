"""The IssuedKey record: a honeytoken key as a sensor served it (never its secret)."""

from __future__ import annotations

from datetime import datetime

import msgspec


class IssuedKey(msgspec.Struct, frozen=True, kw_only=True):
    """A honeytoken as served: to whom, where, when. No secret."""

    key_id: str
    account_id: str
    secret_sha256: str | None = None
    issued_at: datetime
    sensor: str
    session: str
    src_ip: str
    path: str
    service: str = "http"
    event_id: str | None = None  # the event that carried the key id, when known
