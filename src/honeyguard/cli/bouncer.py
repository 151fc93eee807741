"""`honeyguard bouncer add|list`: keys for CrowdSec bouncers pulling the collector's decisions."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.cli._stores import decision_store


def register(app: typer.Typer) -> None:
    bouncer = typer.Typer(help="CrowdSec-compatible bouncers (they pull /v1/decisions/stream).",
                          no_args_is_help=True)

    @bouncer.command("add")
    def add(name: str, config: ConfigOption = None) -> None:
        """Register bouncer NAME and print its API key (shown once; only its hash is kept)."""
        typer.echo(decision_store(settings_from(config)).add_bouncer(name))

    @bouncer.command("list")
    def list_bouncers(config: ConfigOption = None) -> None:
        """Registered bouncers and when each last pulled."""
        table = Table(title="bouncers")
        for column in ("name", "created", "last pull"):
            table.add_column(column)
        for name, created, pulled in decision_store(settings_from(config)).list_bouncers():
            table.add_row(name, f"{created:%Y-%m-%d %H:%M}", f"{pulled:%Y-%m-%d %H:%M:%S}" if pulled else "never")
        Console().print(table)

    app.add_typer(bouncer, name="bouncer")
