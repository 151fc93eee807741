"""What credential protection keeps in the state store (SQLAlchemy Core, SQLite or PostgreSQL):
honeytoken keys served, quarantines applied, exposures found, and notices sent (for dedupe)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import msgspec
import sqlalchemy as sa

from honeyguard.model.honeytoken import IssuedKey
from honeyguard.store.state import METADATA, StateStore, UTCDateTime, replace_row, update_or_insert, upgrade_to_head

honeytokens = sa.Table(
    "honeytokens", METADATA,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=True),
    sa.Column("issued_at", UTCDateTime(), nullable=False),
    sa.Column("sensor", sa.String(128), nullable=False),
    sa.Column("session", sa.String(64), nullable=False),
    sa.Column("src_ip", sa.String(64), nullable=False, index=True),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("service", sa.String(16), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=True),
)

quarantines = sa.Table(
    "key_quarantines", METADATA,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("user_name", sa.String(128), nullable=False),
    sa.Column("policy_name", sa.String(128), nullable=False),
    sa.Column("reason", sa.String(512), nullable=False),
    sa.Column("attached_at", UTCDateTime(), nullable=False),
    sa.Column("released_at", UTCDateTime(), nullable=True),
)

exposures = sa.Table(
    "key_exposures", METADATA,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("source", sa.String(1024), primary_key=True),  # ExposureSource.key
    sa.Column("account_id", sa.String(12), nullable=True, index=True),
    sa.Column("body", sa.LargeBinary, nullable=False),  # the Exposure, msgspec JSON
    sa.Column("first_seen", UTCDateTime(), nullable=False),
    sa.Column("last_seen", UTCDateTime(), nullable=False),
    sa.Column("rotated_at", UTCDateTime(), nullable=True),
)

notices = sa.Table(
    "key_notices", METADATA,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("source", sa.String(1024), primary_key=True),
    sa.Column("sent_at", UTCDateTime(), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)

_TABLES = [honeytokens, quarantines, exposures, notices]


class QuarantineRecord(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    user_name: str
    policy_name: str
    reason: str
    attached_at: datetime
    released_at: datetime | None = None


class StoredExposure(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    source: str
    account_id: str | None
    body: bytes
    first_seen: datetime
    last_seen: datetime
    rotated_at: datetime | None


def utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class CredsStore:
    def __init__(self, state: StateStore) -> None:
        self.engine = state.engine
        upgrade_to_head(self.engine)

    # -- honeytokens ------------------------------------------------------------------------------

    def record_issued(self, items: Iterable[IssuedKey]) -> int:
        """Remember served keys; the first record of a key wins (a replayed event changes nothing)."""
        count = 0
        with self.engine.begin() as conn:
            for item in items:
                if conn.execute(sa.select(honeytokens.c.key_id)
                                .where(honeytokens.c.key_id == item.key_id)).first():
                    continue
                conn.execute(honeytokens.insert().values(**msgspec.structs.asdict(item)))
                count += 1
        return count

    def issued(self, key_id: str) -> IssuedKey | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(honeytokens).where(honeytokens.c.key_id == key_id)).first()
        if row is None:
            return None
        values = row._asdict()
        values["issued_at"] = utc(values["issued_at"])
        return IssuedKey(**values)

    def honeytoken_ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return {r.key_id for r in conn.execute(sa.select(honeytokens.c.key_id))}

    # -- quarantines ------------------------------------------------------------------------------

    def save_quarantine(self, record: QuarantineRecord) -> None:
        with self.engine.begin() as conn:
            row = msgspec.structs.asdict(record)
            replace_row(conn, quarantines, {"key_id": row.pop("key_id")}, row)

    def quarantine(self, key_id: str) -> QuarantineRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(quarantines).where(quarantines.c.key_id == key_id)).first()
        if row is None:
            return None
        values = row._asdict()
        values["attached_at"] = utc(values["attached_at"])
        values["released_at"] = utc(values["released_at"]) if values["released_at"] else None
        return QuarantineRecord(**values)

    # -- exposures --------------------------------------------------------------------------------

    def save_exposure(self, key_id: str, source: str, account_id: str | None, body: bytes,
                      at: datetime) -> bool:
        """Insert or refresh; True when this key was not known at this source before."""
        with self.engine.begin() as conn:
            return update_or_insert(conn, exposures, {"key_id": key_id, "source": source},
                                    {"last_seen": at, "body": body},
                                    on_insert={"account_id": account_id, "first_seen": at, "rotated_at": None})

    def exposures_at(self, source: str) -> list[StoredExposure]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(exposures).where(exposures.c.source == source)
                                .order_by(exposures.c.first_seen))
            return [_exposure(r) for r in rows]

    def exposures_of(self, key_id: str) -> list[StoredExposure]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(exposures).where(exposures.c.key_id == key_id)
                                .order_by(exposures.c.first_seen))
            return [_exposure(r) for r in rows]

    def mark_rotated(self, key_id: str, at: datetime) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(exposures.update().where(exposures.c.key_id == key_id)
                                    .values(rotated_at=at)).rowcount)

    # -- notices (dedupe) -------------------------------------------------------------------------

    def last_notice(self, key_id: str, source: str) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(notices.c.sent_at).where(
                (notices.c.key_id == key_id) & (notices.c.source == source))).scalar()
        return utc(value) if value is not None else None

    def record_notice(self, key_id: str, source: str, at: datetime) -> None:
        with self.engine.begin() as conn:
            update_or_insert(conn, notices, {"key_id": key_id, "source": source},
                             {"sent_at": at, "count": notices.c.count + 1}, on_insert={"count": 1})


def _exposure(row: sa.Row) -> StoredExposure:  # type: ignore[type-arg]
    return StoredExposure(key_id=row.key_id, source=row.source, account_id=row.account_id, body=row.body,
                          first_seen=utc(row.first_seen), last_seen=utc(row.last_seen),
                          rotated_at=utc(row.rotated_at) if row.rotated_at else None)
