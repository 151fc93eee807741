"""What intelligence keeps in the state store: imported feed indicators and the user's allowlist.

Indicators themselves are derived (from events and these imports), so they are rebuilt, not stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec
import sqlalchemy as sa

from honeyguard.model.finding import Finding, decode_finding, encode_finding
from honeyguard.store.state import (
    METADATA,
    StateStore,
    UTCDateTime,
    replace_row,
    take_numbers,
    update_or_insert,
    upgrade_to_head,
)

feed_indicators = sa.Table(
    "feed_indicators", METADATA,
    sa.Column("source", sa.String(256), primary_key=True),
    sa.Column("type", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(2048), primary_key=True),
    sa.Column("role", sa.String(32), primary_key=True),
    sa.Column("confidence", sa.Integer, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False, index=True),  # import order, for collectors to catch up
)

allowlist = sa.Table(
    "allowlist", METADATA,
    sa.Column("type", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(2048), primary_key=True),
    sa.Column("reason", sa.String(1024), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)


blast_radius = sa.Table(
    "blast_radius", METADATA,
    sa.Column("value", sa.String(256), primary_key=True),
    sa.Column("internal_hosts", sa.Integer, nullable=False),
    sa.Column("flows", sa.BigInteger, nullable=False),
    sa.Column("measured_at", UTCDateTime(), nullable=False),
)


findings = sa.Table(
    "findings", METADATA,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False, index=True),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("subject", sa.String(256), nullable=False, index=True),
    sa.Column("last_seen", UTCDateTime(), nullable=True),
    sa.Column("body", sa.LargeBinary, nullable=False),
)


class FeedItem(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    type: str
    value: str
    role: str
    confidence: int
    at: datetime


class AllowItem(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    value: str
    reason: str
    expires_at: datetime | None
    created_at: datetime


class IntelStore:
    def __init__(self, state: StateStore) -> None:
        self.engine = state.engine
        upgrade_to_head(self.engine)

    def save_feed(self, items: Iterable[FeedItem]) -> int:
        """Insert or refresh imported indicators (a re-import of the same row updates it)."""
        count = 0
        with self.engine.begin() as conn:
            items = list(items)
            seq = take_numbers(conn, "feed", len(items)) - 1 if items else 0
            for item in items:
                seq += 1
                update_or_insert(conn, feed_indicators,
                                 {"source": item.source, "type": item.type, "value": item.value, "role": item.role},
                                 {"confidence": item.confidence, "at": item.at, "seq": seq})
                count += 1
        return count

    def feed(self, after_seq: int = 0) -> tuple[list[FeedItem], int]:
        """Imported indicators saved after ``after_seq``, and the newest sequence number."""
        query = sa.select(feed_indicators).where(feed_indicators.c.seq > after_seq).order_by(feed_indicators.c.seq)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
        items = [FeedItem(source=r.source, type=r.type, value=r.value, role=r.role, confidence=r.confidence,
                          at=_utc(r.at)) for r in rows]
        return items, max((int(r.seq) for r in rows), default=after_seq)

    def allow(self, item: AllowItem) -> None:
        with self.engine.begin() as conn:
            row = msgspec.structs.asdict(item)
            replace_row(conn, allowlist, {"type": row.pop("type"), "value": row.pop("value")}, row)

    def unallow(self, type_: str, value: str) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(allowlist.delete().where((allowlist.c.type == type_) & (allowlist.c.value == value)))
            return gone.rowcount > 0

    def allowed(self, now: datetime) -> list[AllowItem]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(allowlist).order_by(allowlist.c.value))
            items = [AllowItem(type=r.type, value=r.value, reason=r.reason, expires_at=_utc(r.expires_at)
                               if r.expires_at else None, created_at=_utc(r.created_at)) for r in rows]
        return [i for i in items if i.expires_at is None or i.expires_at > now]


    def save_blast_radius(self, figures: Iterable[tuple[str, int, int]], at: datetime) -> int:
        """(value, internal hosts, flows) from a flow analysis; the newest measure replaces the old."""
        count = 0
        with self.engine.begin() as conn:
            for value, hosts, flows in figures:
                replace_row(conn, blast_radius, {"value": value},
                            {"internal_hosts": hosts, "flows": flows, "measured_at": at})
                count += 1
        return count

    def blast_radius(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(blast_radius.c.value, blast_radius.c.internal_hosts))
            return {r.value: int(r.internal_hosts) for r in rows}


    def save_findings(self, items: Iterable[Finding]) -> int:
        """Insert or replace by id (a finding's id is derived from what it concludes)."""
        count = 0
        with self.engine.begin() as conn:
            for item in items:
                replace_row(conn, findings, {"id": item.id},
                            {"kind": item.kind, "severity": item.severity, "subject": item.subject,
                             "last_seen": item.last_seen, "body": encode_finding(item)})
                count += 1
        return count

    def findings(self, *, kind: str | None = None, subject: str | None = None, limit: int = 1000) -> list[Finding]:
        query = sa.select(findings.c.body).order_by(findings.c.last_seen.desc()).limit(limit)
        if kind:
            query = query.where(findings.c.kind == kind)
        if subject:
            query = query.where(findings.c.subject == subject)
        with self.engine.connect() as conn:
            return [decode_finding(r.body) for r in conn.execute(query)]


def _utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
