"""Alembic's entry point: migrate over the connection honeyguard hands in (or the configured URL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from honeyguard.store.schema import state_metadata


def _migrate(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=state_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _migrate(given)
        return
    from honeyguard.store.state import make_engine

    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as connection:
        _migrate(connection)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=state_metadata(),
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    _run()
