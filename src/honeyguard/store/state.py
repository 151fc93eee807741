"""The state store through SQLAlchemy Core: SQLite in data_dir by default, PostgreSQL the same way.

Sensors are known by name and a bearer token; only the token's SHA-256 is stored, so a copy of
the database does not let anyone ship events as a sensor.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from honeyguard.clock import Clock, Entropy, SystemClock, SystemEntropy
from honeyguard.errors import AuthError, StoreError

#: Every table of the state store; other rooms add theirs to this metadata, and a migration under
#: store/migrations/versions for each change (tests/store/test_migrations.py fails otherwise).
METADATA = sa.MetaData()


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A moment stored in UTC and always read back UTC-aware, whatever the backend.

    SQLite keeps no zone (it hands naive datetimes back); PostgreSQL's timestamptz hands them back
    in the session's zone. Naive values written are taken as UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return moment if dialect.name == "postgresql" else moment.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


sensors = sa.Table(
    "sensors", METADATA,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

_SENSOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TOKEN_BITS = 256


counters = sa.Table(
    "counters", METADATA,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)


def take_numbers(conn: sa.Connection, name: str, count: int) -> int:
    """Reserve ``count`` numbers of counter ``name`` in this transaction; returns the first.

    The UPDATE locks the counter row until the transaction ends, so concurrent writers (several
    collectors on PostgreSQL, processes on SQLite) take disjoint ranges and commit in number order."""
    bump = (counters.update().where(counters.c.name == name)
            .values(value=counters.c.value + count).returning(counters.c.value))
    bumped = conn.execute(bump).scalar()
    if bumped is None:  # the first use ever: create the row, tolerating a concurrent first use
        conn.execute(_insert_if_absent(conn).values(name=name, value=0))
        bumped = conn.execute(bump).scalar_one()
    return int(bumped) - count + 1


def _insert_if_absent(conn: sa.Connection) -> sa.Insert:
    """INSERT ... ON CONFLICT DO NOTHING for a counter row, in the backend's own dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(counters).on_conflict_do_nothing(index_elements=[counters.c.name])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(counters).on_conflict_do_nothing(index_elements=[counters.c.name])


class SensorRecord(msgspec.Struct, frozen=True):
    name: str
    created_at: datetime


def update_or_insert(conn: sa.Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any],
                     *, on_insert: dict[str, Any] | None = None) -> bool:
    """Update the row with ``key``'s column values, or insert it (with ``on_insert`` too) when
    there is none (``on_insert`` wins over ``values``: a counter updated as ``count + 1`` starts at
    1). Portable across SQLite and PostgreSQL; True when a row was inserted."""
    where = sa.and_(*(table.c[name] == value for name, value in key.items()))
    if conn.execute(table.update().where(where).values(**values)).rowcount:
        return False
    conn.execute(table.insert().values({**key, **values, **(on_insert or {})}))
    return True


def replace_row(conn: sa.Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """The row with ``key``, whatever was there before (the newest record wins whole)."""
    conn.execute(table.delete().where(sa.and_(*(table.c[name] == value for name, value in key.items()))))
    conn.execute(table.insert().values(**key, **values))


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so the server and CLI share it."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        # the session zone only matters to SQL that formats times (reads are UTC-aware anyway);
        # libpq options the user put in the URL win
        given = "options" in sa.engine.make_url(url).query
        return sa.create_engine(url, pool_pre_ping=True, connect_args={} if given else {"options": "-c timezone=UTC"})
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the newest migration (see honeyguard.store.schema)."""
    from honeyguard.store.schema import upgrade_to_head as upgrade

    upgrade(engine)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class StateStore:
    def __init__(self, url: str, *, clock: Clock | None = None, entropy: Entropy | None = None) -> None:
        self.url = url
        self._clock = clock or SystemClock()
        self._entropy = entropy or SystemEntropy()
        try:
            self.engine = make_engine(url)
            upgrade_to_head(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot open state store {url}: {exc.__class__.__name__}: {exc}") from None

    def close(self) -> None:
        self.engine.dispose()

    def add_sensor(self, name: str, *, replace: bool = False) -> str:
        """Register ``name`` and return its new token (shown once; only its hash is kept).
        With ``replace``, an existing sensor gets a new token and the old one stops working."""
        if not _SENSOR_NAME.match(name):
            raise StoreError(f"invalid sensor name {name!r} (letters, digits, '.', '_', '-'; "
                             "at most 128)")
        token = self._new_token()
        row = {"name": name, "token_sha256": hash_token(token), "created_at": self._clock.now()}
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(sensors.c.name).where(sensors.c.name == name)).first()
            if exists and not replace:
                raise StoreError(f"sensor {name!r} already exists")
            if exists:
                conn.execute(sensors.update().where(sensors.c.name == name).values(**row))
            else:
                conn.execute(sensors.insert().values(**row))
        return token

    def verify_token(self, token: str | None) -> str:
        """The name of the sensor holding ``token``; AuthError when it is missing or unknown."""
        if not token:
            raise AuthError("missing sensor token")
        with self.engine.connect() as conn:
            name = conn.execute(
                sa.select(sensors.c.name).where(sensors.c.token_sha256 == hash_token(token))
            ).scalar()
        if name is None:
            raise AuthError("unknown sensor token")
        return str(name)

    def list_sensors(self) -> list[SensorRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(sensors.c.name, sensors.c.created_at).order_by(sensors.c.name))
            return [SensorRecord(name=r.name, created_at=r.created_at) for r in rows]

    def has_sensor(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sensors.c.name).where(sensors.c.name == name)).first() is not None

    def _new_token(self) -> str:
        raw = self._entropy.randbits(_TOKEN_BITS).to_bytes(_TOKEN_BITS // 8, "big")
        return "hgs_" + raw.hex()
