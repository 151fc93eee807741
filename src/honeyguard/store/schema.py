"""The state store's schema under Alembic: every store calls :func:`upgrade_to_head` on open.

The migrations live in ``store/migrations/versions`` and are written by hand (never generated at
run time), so an upgrade does the same thing on SQLite and on PostgreSQL, on every machine.
tests/store/test_migrations.py checks that they build exactly :data:`METADATA`.

A SQLite database made by an earlier honeyguard (``create_all``, no ``alembic_version``) is adopted:
tables, columns and indexes it lacks are added, then it is stamped at head. A difference that
cannot be added (a changed type, a new NOT NULL column on a non-empty table) is a StoreError
naming it, and the database is left as it was found.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import weakref
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine

from honeyguard.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_LOCK = 0x686F6E6579  # any constant shared by every honeyguard process on the server
_checked: weakref.WeakSet[Engine] = weakref.WeakSet()
_checked_lock = threading.Lock()


def state_metadata() -> sa.MetaData:
    """METADATA with every store's tables on it (they register themselves on import)."""
    import honeyguard.store.apitokens
    import honeyguard.store.creds
    import honeyguard.store.decisions
    import honeyguard.store.intel  # noqa: F401
    from honeyguard.store.state import METADATA

    return METADATA


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreError(f"no migrations in {MIGRATIONS}")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Apply every missing migration (idempotent; safe when several processes start at once)."""
    if engine in _checked:
        return
    with _checked_lock:
        if engine in _checked:
            return
        if current_revision(engine) != head_revision():
            try:
                with _migration_lock(engine), engine.begin() as conn:
                    _upgrade(conn)
            except CommandError as exc:  # e.g. a revision from a newer honeyguard than this one
                raise StoreError(f"cannot migrate the state database: {exc}") from None
        _checked.add(engine)


def _upgrade(conn: sa.Connection) -> None:
    current = MigrationContext.configure(conn).get_current_revision()
    if current == head_revision():
        return  # another process got there first
    if current is None and _has_state_tables(conn):
        _adopt_unversioned(conn)
        command.stamp(alembic_config(conn), "head")
    else:
        command.upgrade(alembic_config(conn), "head")


def _has_state_tables(conn: sa.Connection) -> bool:
    present = set(sa.inspect(conn).get_table_names())
    return bool(present & set(state_metadata().tables))


def _adopt_unversioned(conn: sa.Connection) -> None:
    """Add what a database made by ``create_all`` before migrations lacks; refuse what cannot be added."""
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    operations = Operations(context)
    for diff in compare_metadata(context, state_metadata()):
        if isinstance(diff, list):  # column changes come as lists of modify_* tuples
            raise StoreError(f"state database schema differs from this honeyguard: {_describe(diff[0])}; "
                             "migrate it by hand or start from an empty database")
        kind = diff[0]
        if kind == "add_table":
            diff[1].create(conn)
        elif kind == "add_column":
            _add_column(operations, diff[2], diff[3])
        elif kind == "add_index":
            diff[1].create(conn)
        elif not kind.startswith("remove_"):  # extra tables, indexes or constraints do no harm
            raise StoreError(f"state database schema differs from this honeyguard: {_describe(diff)}")


def _add_column(operations: Operations, table: str, column: sa.Column[Any]) -> None:
    try:
        operations.add_column(table, column._copy())
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot add column {table}.{column.name} to the existing state database "
                         f"({exc.orig})") from None


def _describe(diff: tuple[Any, ...]) -> str:
    return " ".join(str(part) for part in diff if part is not None)[:200]


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """One migrating process at a time: an advisory lock on PostgreSQL, a lock file beside SQLite."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK})
                conn.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
