"""Decisions and the bouncers that pull them, in the state store (SQLAlchemy Core).

Every change to a decision (new, renewed, withdrawn) takes the next number of one counter,
so a bouncer that remembers the last number it saw gets exactly what changed since.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta, timezone
from operator import itemgetter
from typing import Any

import msgspec
import sqlalchemy as sa

from honeyguard.clock import Clock, Entropy, SystemClock, SystemEntropy
from honeyguard.errors import AuthError, StoreError
from honeyguard.model.decision import Decision
from honeyguard.store.state import (
    METADATA,
    StateStore,
    UTCDateTime,
    counters,
    hash_token,
    take_numbers,
    update_or_insert,
    upgrade_to_head,
)

decisions = sa.Table(
    "decisions",
    METADATA,
    sa.Column("num", sa.Integer, primary_key=True, autoincrement=True),  # CrowdSec wants integer ids
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("indicator_id", sa.String(80), nullable=False, index=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("value", sa.String(2048), nullable=False, index=True),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("origin", sa.String(8), nullable=False),
    sa.Column("simulated", sa.Boolean, nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=False, index=True),
    sa.Column("body", sa.LargeBinary, nullable=False),  # the whole Decision, msgspec JSON
)

bouncers = sa.Table(
    "bouncers",
    METADATA,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_pull", UTCDateTime(), nullable=True),
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Decision).decode


def _stored_ids(conn: sa.Connection, ids: list[str], chunk: int = 500) -> set[str]:
    """Which of ``ids`` have a row (asked in chunks: a bound parameter per id)."""
    found: set[str] = set()
    for start in range(0, len(ids), chunk):
        query = sa.select(decisions.c.id).where(decisions.c.id.in_(ids[start : start + chunk]))
        found.update(conn.execute(query).scalars())
    return found


_COLUMNS = (
    "indicator_id",
    "type",
    "value",
    "action",
    "direction",
    "origin",
    "simulated",
    "expires_at",
    "withdrawn_at",
    "seq",
    "body",
)


_CANONICAL = ("id", *_COLUMNS)  # the order _values lays a row out in


class _Statement(msgspec.Struct, frozen=True):
    """A decisions INSERT or UPDATE compiled once for a dialect: its SQL, the parameter names in
    its order, which value of a row (in _CANONICAL order) goes to each, and the bind processors
    SQLAlchemy would apply, by position in _CANONICAL."""

    sql: str
    names: tuple[str, ...]  # the parameters as the SQL names them, in order
    pick: Callable[[list[Any]], tuple[Any, ...]]  # a row's values in the SQL's order
    positional: bool
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]


_compiled: dict[tuple[str, str, str], _Statement] = {}


def _statement(dialect: sa.Dialect, kind: str) -> _Statement:
    key = (dialect.name, dialect.driver, kind)
    found = _compiled.get(key)
    if found is None:
        values: dict[str, Any] = {name: sa.bindparam(f"v_{name}") for name in _COLUMNS}
        if kind == "update":
            stmt: sa.Update | sa.Insert = (
                decisions.update().where(decisions.c.id == sa.bindparam("v_id")).values(values)
            )
        else:
            stmt = decisions.insert().values({"id": sa.bindparam("v_id"), **values})
        compiled = stmt.compile(dialect=dialect)
        positional = compiled.positiontup is not None
        names = tuple(compiled.positiontup) if compiled.positiontup is not None else tuple(compiled.binds)
        at = {name: _CANONICAL.index(name.removeprefix("v_")) for name in names}
        processors = tuple(
            (at[name], process)
            for name in names
            if (process := _processor(compiled.binds[name].type, dialect)) is not None
        )
        pick = itemgetter(*(at[name] for name in names))
        found = _compiled[key] = _Statement(str(compiled), names, pick, positional, processors)
    return found


def _sqlite_moment(value: datetime | None) -> str | None:
    """What UTCDateTime's bind processing and SQLAlchemy's SQLite DATETIME make of a moment, in one
    call: UTC, without a zone, "YYYY-MM-DD HH:MM:SS.ffffff" (their chain of processors measured a
    fifth of saving a step's decisions)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


_PROBES = (
    datetime(2026, 6, 1, 12, 30, 45, 123456, tzinfo=UTC),
    datetime(2026, 6, 1, 12, 30, 45, tzinfo=timezone(timedelta(hours=-5))),
    datetime(999, 1, 2, 3, 4, 5, 6),
    None,
)


def _processor(type_: Any, dialect: sa.Dialect) -> Callable[[Any], Any] | None:
    """SQLAlchemy's bind processor for a column type, or the same in one call where it is known to
    give the same text (checked here on a few moments, else SQLAlchemy's is kept)."""
    given: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    if dialect.name != "sqlite" or given is None:
        return given
    if isinstance(type_, sa.LargeBinary):  # sqlite3 stores bytes as the BLOB its Binary() wrapper makes
        return None
    if not isinstance(type_, UTCDateTime):
        return given
    same = all(given(probe) == _sqlite_moment(probe) for probe in _PROBES)
    return _sqlite_moment if same else given


def _values(d: Decision, seq: int) -> list[Any]:
    """A decision's row, in _CANONICAL order."""
    return [d.id, d.indicator_id, d.type, d.value, d.action, d.direction, d.origin, d.simulated, d.expires_at,
            d.withdrawn_at, seq, _encode(d)]  # fmt: skip


def _many(conn: sa.Connection, kind: str, rows: list[list[Any]]) -> int:
    """One executemany of the decisions INSERT or UPDATE (``rows`` from ``_values``) straight on
    the driver: the statement and its bind processors come from SQLAlchemy once, not per row (its
    per-row parameter handling measured more than the database's own work for a step's thousands
    of renewals). Returns the rows the driver says it touched (-1 where it does not count)."""
    stmt = _statement(conn.dialect, kind)
    processors, pick = stmt.processors, stmt.pick
    params: list[Any] = []
    for row in rows:
        values = row.copy()  # a row the UPDATE missed goes on to the INSERT as it was
        for i, process in processors:
            values[i] = process(values[i])
        params.append(pick(values) if stmt.positional else dict(zip(stmt.names, pick(values), strict=True)))
    return int(conn.exec_driver_sql(stmt.sql, params).rowcount)


class StreamRow(msgspec.Struct, frozen=True):
    num: int
    decision: Decision


class DecisionStore:
    def __init__(self, state: StateStore, *, clock: Clock | None = None, entropy: Entropy | None = None) -> None:
        self.engine = state.engine
        self._clock = clock or SystemClock()
        self._entropy = entropy or SystemEntropy()
        upgrade_to_head(self.engine)

    # -- decisions ---------------------------------------------------------------------------

    def save(self, changed: Iterable[Decision]) -> int:
        """Insert or update each decision (by id), each with a new change number. Returns the count."""
        items = list(changed)
        if items:
            self.save_numbered(items)
        return len(items)

    def save_numbered(self, items: list[Decision], *, fresh: Collection[str] | None = None) -> int:
        """``save``, returning the change number of the first item (the others follow in order).
        One UPDATE for the known ids and one INSERT for the others, each over many rows (a statement
        a row costs SQLAlchemy's per-statement work each time); a list repeating an id goes row by
        row, so the later one wins as it always did. ``fresh``: ids just made, never saved: inserted
        without asking; the others are updated, and any the UPDATE missed looked up and inserted
        (asking first for every id measured a tenth of saving a step's changes)."""
        with self.engine.begin() as conn:
            first = take_numbers(conn, "decisions", len(items))
            ids = [d.id for d in items]
            if len(set(ids)) != len(ids):
                for offset, decision in enumerate(items):
                    update_or_insert(conn, decisions, {"id": decision.id}, self._row(decision, first + offset))
                return first
            rows = [_values(d, first + offset) for offset, d in enumerate(items)]
            if fresh is None:
                known = _stored_ids(conn, ids)
                updates = [row for row in rows if row[0] in known]
            else:
                updates = [row for row in rows if row[0] not in fresh]
                known = {row[0] for row in updates}
            if updates and _many(conn, "update", updates) != len(updates) and fresh is not None:
                known = _stored_ids(conn, [row[0] for row in updates])  # a row gone since: insert it
            inserts = [row for row in rows if row[0] not in known]
            if inserts:
                _many(conn, "insert", inserts)
        return first

    @staticmethod
    def _row(d: Decision, seq: int) -> dict[str, object]:
        return dict(zip(_COLUMNS, _values(d, seq)[1:], strict=True))

    def active(self, now: datetime) -> dict[str, Decision]:
        """Decisions in force, by indicator id (the newest when several)."""
        query = (
            sa.select(decisions.c.body)
            .where(decisions.c.withdrawn_at.is_(None))
            .where(decisions.c.expires_at > now)
            .order_by(decisions.c.seq)
        )
        with self.engine.connect() as conn:
            found = [_decode(row.body) for row in conn.execute(query)]
        return {d.indicator_id: d for d in found}

    def unwithdrawn(self) -> list[Decision]:
        """Every decision not withdrawn (in force or expired), in change order."""
        query = sa.select(decisions.c.body).where(decisions.c.withdrawn_at.is_(None)).order_by(decisions.c.seq)
        with self.engine.connect() as conn:
            return [_decode(row.body) for row in conn.execute(query)]

    def expired_unwithdrawn(self, now: datetime) -> list[Decision]:
        query = (
            sa.select(decisions.c.body).where(decisions.c.withdrawn_at.is_(None)).where(decisions.c.expires_at <= now)
        )
        with self.engine.connect() as conn:
            return [_decode(row.body) for row in conn.execute(query)]

    def for_value(self, value: str) -> list[Decision]:
        query = sa.select(decisions.c.body).where(decisions.c.value == value).order_by(decisions.c.seq.desc())
        with self.engine.connect() as conn:
            return [_decode(row.body) for row in conn.execute(query)]

    def all(self, *, limit: int = 1000, after_seq: int = 0) -> list[Decision]:
        query = sa.select(decisions.c.body).where(decisions.c.seq > after_seq).order_by(decisions.c.seq).limit(limit)
        with self.engine.connect() as conn:
            return [_decode(row.body) for row in conn.execute(query)]

    def changes_since(self, seq: int) -> tuple[list[StreamRow], int]:
        """Every decision changed after ``seq``, and the newest change number."""
        query = (
            sa.select(decisions.c.num, decisions.c.body, decisions.c.seq)
            .where(decisions.c.seq > seq)
            .order_by(decisions.c.seq)
        )
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
        top = max((r.seq for r in rows), default=seq)
        return [StreamRow(r.num, _decode(r.body)) for r in rows], top

    def current_with_numbers(self, now: datetime) -> list[StreamRow]:
        query = (
            sa.select(decisions.c.num, decisions.c.body)
            .where(decisions.c.withdrawn_at.is_(None))
            .where(decisions.c.expires_at > now)
            .order_by(decisions.c.num)
        )
        with self.engine.connect() as conn:
            return [StreamRow(r.num, _decode(r.body)) for r in conn.execute(query)]

    def latest_seq(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(counters.c.value).where(counters.c.name == "decisions")).scalar()
        return int(value or 0)

    # -- bouncers ----------------------------------------------------------------------------

    def add_bouncer(self, name: str) -> str:
        """Register a bouncer and return its API key (shown once; only its hash is kept)."""
        if not _NAME.match(name):
            raise StoreError(f"invalid bouncer name {name!r} (letters, digits, '.', '_', '-')")
        key = self._entropy.randbits(192).to_bytes(24, "big").hex()
        with self.engine.begin() as conn:
            if conn.execute(sa.select(bouncers.c.name).where(bouncers.c.name == name)).first():
                raise StoreError(f"bouncer {name!r} already exists")
            conn.execute(
                bouncers.insert().values(
                    name=name, key_sha256=hash_token(key), created_at=self._clock.now(), last_seq=0
                )
            )
        return key

    def bouncer_for_key(self, key: str | None) -> tuple[str, int]:
        """(name, last change number it pulled); AuthError for a missing or unknown key."""
        if not key:
            raise AuthError("missing X-Api-Key")
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(bouncers.c.name, bouncers.c.last_seq).where(bouncers.c.key_sha256 == hash_token(key))
            ).first()
        if row is None:
            raise AuthError("unknown bouncer key")
        return str(row.name), int(row.last_seq)

    def mark_pulled(self, name: str, seq: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                bouncers.update().where(bouncers.c.name == name).values(last_seq=seq, last_pull=self._clock.now())
            )

    def list_bouncers(self) -> list[tuple[str, datetime, datetime | None]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(bouncers.c.name, bouncers.c.created_at, bouncers.c.last_pull).order_by(bouncers.c.name)
            )
            return [(r.name, r.created_at, r.last_pull) for r in rows]
