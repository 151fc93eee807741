"""Alembic migrations build exactly METADATA's schema, on SQLite and PostgreSQL; older SQLite files are adopted."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from honeyguard.errors import StoreError
from honeyguard.store.decisions import DecisionStore
from honeyguard.store.schema import current_revision, head_revision, state_metadata, upgrade_to_head
from honeyguard.store.state import StateStore, make_engine


def _differences(engine: sa.Engine, metadata: sa.MetaData) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, metadata))


def test_migrations_build_exactly_the_metadata(state_url: str) -> None:
    engine = make_engine(state_url)
    upgrade_to_head(engine)
    assert current_revision(engine) == head_revision()
    assert _differences(engine, state_metadata()) == []
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) == set(state_metadata().tables) | {"alembic_version"}


def test_a_column_without_a_migration_is_a_difference(state_url: str) -> None:
    engine = make_engine(state_url)
    upgrade_to_head(engine)
    changed = sa.MetaData()
    for table in state_metadata().sorted_tables:
        table.to_metadata(changed)
    changed.tables["sensors"].append_column(sa.Column("location", sa.String(64), nullable=True))
    sa.Table("new_things", changed, sa.Column("id", sa.Integer, primary_key=True))
    kinds = {(d[0], getattr(d[1], "name", None) if d[0] == "add_table" else d[2])
             for d in _differences(engine, changed) if isinstance(d, tuple)}
    assert kinds == {("add_column", "sensors"), ("add_table", "new_things")}


def test_upgrade_is_idempotent_and_keeps_data(state_url: str) -> None:
    store = StateStore(state_url)
    token = store.add_sensor("edge-1")
    store.close()
    again = StateStore(state_url)
    assert again.verify_token(token) == "edge-1"
    assert current_revision(again.engine) == head_revision()


def _legacy_sqlite(path: Path) -> sa.Engine:
    """A database as honeyguard made it before migrations: create_all, no alembic_version."""
    engine = make_engine(f"sqlite:///{path}")
    state_metadata().create_all(engine)
    return engine


def test_an_unversioned_sqlite_database_is_stamped(tmp_path: Path) -> None:
    engine = _legacy_sqlite(tmp_path / "old.sqlite")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO sensors VALUES ('old', 'ab', '2025-01-01 00:00:00.000000')")
    engine.dispose()
    store = StateStore(f"sqlite:///{tmp_path / 'old.sqlite'}")
    assert current_revision(store.engine) == head_revision()
    assert [s.name for s in store.list_sensors()] == ["old"]
    assert _differences(store.engine, state_metadata()) == []


def test_an_unversioned_sqlite_database_gets_what_it_lacks(tmp_path: Path) -> None:
    engine = _legacy_sqlite(tmp_path / "old.sqlite")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE findings")
        conn.exec_driver_sql("ALTER TABLE decisions DROP COLUMN withdrawn_at")
        conn.exec_driver_sql("DROP INDEX ix_decisions_value")
    engine.dispose()
    state = StateStore(f"sqlite:///{tmp_path / 'old.sqlite'}")
    assert _differences(state.engine, state_metadata()) == []
    assert current_revision(state.engine) == head_revision()
    assert DecisionStore(state).latest_seq() == 0


def test_a_column_that_cannot_be_added_is_refused_and_nothing_is_stamped(tmp_path: Path) -> None:
    engine = _legacy_sqlite(tmp_path / "old.sqlite")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO sensors VALUES ('old', 'ab', '2025-01-01 00:00:00.000000')")
        conn.exec_driver_sql("ALTER TABLE sensors DROP COLUMN created_at")  # NOT NULL, rows present
    engine.dispose()
    with pytest.raises(StoreError, match=r"sensors\.created_at"):
        StateStore(f"sqlite:///{tmp_path / 'old.sqlite'}")
    assert current_revision(make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")) is None


def test_a_revision_from_a_newer_honeyguard_is_a_store_error(state_url: str) -> None:
    engine = make_engine(state_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('9999')")
    with pytest.raises(StoreError, match="9999"):
        StateStore(state_url)
