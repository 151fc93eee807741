"""`honeyguard token add|list|revoke`: API tokens (roles reader and admin) for reading the collector's API."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from honeyguard.cli._common import ConfigOption, settings_from

if TYPE_CHECKING:
    from honeyguard.store.apitokens import ApiTokens


def register(app: typer.Typer) -> None:
    token = typer.Typer(help="API tokens for reading the collector's API (roles: reader, admin).",
                        no_args_is_help=True)

    @token.command("add")
    def add(name: Annotated[str, typer.Argument(help="Who or what uses it (shown in list and in errors).")],
            role: Annotated[str, typer.Option("--role", help="reader (read the API) or admin (everything).")
                            ] = "reader",
            replace: Annotated[bool, typer.Option("--replace", help="Give a live token NAME a new secret "
                                                  "(the old one stops working).")] = False,
            config: ConfigOption = None) -> None:
        """Create API token NAME and print it (shown once; only its SHA-256 is kept)."""
        with _tokens(config) as tokens:
            secret = tokens.add(name, role, replace=replace)
        typer.echo(secret)
        typer.echo(f"token {name!r} ({role}) created; send it as 'Authorization: Bearer <token>', "
                   "--token or $HONEYGUARD_TOKEN. It is not shown again.", err=True)

    @token.command("list")
    def list_tokens(config: ConfigOption = None) -> None:
        """API tokens: name, role, created, revoked (never the secrets)."""
        with _tokens(config) as tokens:
            found = tokens.list()
        table = Table(title=f"{len(found)} API tokens")
        for column in ("name", "role", "created (UTC)", "revoked (UTC)"):
            table.add_column(column)
        for t in found:
            table.add_row(t.name, t.role, f"{t.created_at:%Y-%m-%d %H:%M}",
                          f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "-")
        Console().print(table)

    @token.command("revoke")
    def revoke(name: str, config: ConfigOption = None) -> None:
        """Revoke API token NAME (a running collector stops accepting it within 30 seconds)."""
        with _tokens(config) as tokens:
            tokens.revoke(name)
        typer.echo(f"token {name!r} revoked")

    app.add_typer(token, name="token")


@contextlib.contextmanager
def _tokens(config: Path | None) -> Iterator[ApiTokens]:
    """The ApiTokens of the configured state store, closed on exit."""
    from honeyguard.cli._stores import state_store
    from honeyguard.store.apitokens import ApiTokens

    state = state_store(settings_from(config))
    try:
        yield ApiTokens(state)
    finally:
        state.close()
