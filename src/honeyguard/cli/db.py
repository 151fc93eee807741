"""`honeyguard db upgrade|current`: the state database's schema migrations (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

T = TypeVar("T")

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="SQLAlchemy URL of the state database (default: server.state_url of the "
                 "settings, else SQLite in data_dir).", show_default=False),
]


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="The state database: schema migrations (Alembic).", no_args_is_help=True)

    @db.command("upgrade")
    def upgrade(config: ConfigOption = None, url: UrlOption = None) -> None:
        """Apply every missing migration (collectors also do this when they start)."""
        from honeyguard.store.schema import current_revision, head_revision, upgrade_to_head

        target = _url(config, url)
        engine = _engine(target)
        try:
            before = _guarded(current_revision, engine)
            _guarded(upgrade_to_head, engine)
            after = _guarded(current_revision, engine)
        finally:
            engine.dispose()
        change = "already at head" if before == after else f"upgraded from {before or 'empty'}"
        Console().print(f"{_shown(target)}: revision {after} ({change}; head {head_revision()})", highlight=False)

    @db.command("current")
    def current(config: ConfigOption = None, url: UrlOption = None) -> None:
        """Show the database's revision and whether migrations are pending (changes nothing)."""
        from honeyguard.store.schema import current_revision, head_revision

        target = _url(config, url)
        engine = _engine(target)
        try:
            revision = _guarded(current_revision, engine)
        finally:
            engine.dispose()
        head = head_revision()
        state = "up to date" if revision == head else "migrations pending: run `honeyguard db upgrade`"
        Console().print(f"{_shown(target)}: revision {revision or 'none'}, head {head} ({state})", highlight=False)

    app.add_typer(db, name="db")


def _url(config: object, url: str | None) -> str:
    from pathlib import Path

    return url or settings_from(config if isinstance(config, Path) else None).state_url


def _engine(url: str) -> Engine:
    import sqlalchemy as sa

    from honeyguard.store.state import make_engine

    try:
        return make_engine(url)
    except (sa.exc.SQLAlchemyError, ValueError, OSError) as exc:
        raise StoreError(f"cannot open state database {_shown(url)}: {exc}") from None


def _guarded(action: Callable[[Engine], T], engine: Engine) -> T:
    import sqlalchemy as sa

    try:
        return action(engine)
    except sa.exc.SQLAlchemyError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise StoreError(f"state database {_shown(str(engine.url))}: {first_line}") from None


def _shown(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<state database>"
