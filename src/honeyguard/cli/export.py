"""`honeyguard export --format NAME [--out PATH]` and `honeyguard export --all DIR`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.cli._stores import decision_store
from honeyguard.clock import SystemClock
from honeyguard.errors import HoneyguardError
from honeyguard.export import exporter_registry
from honeyguard.export.base import Exporter
from honeyguard.model.decision import Decision


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        format_: Annotated[str | None, typer.Option("--format", "-f", help="One format (see --list).")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="File (folder for misp); default stdout.")] = None,
        all_dir: Annotated[Path | None, typer.Option("--all", help="Write every format into this folder.")] = None,
        list_formats: Annotated[bool, typer.Option("--list", help="List the formats.")] = False,
        config: ConfigOption = None,
    ) -> None:
        """Write the decisions in force for a firewall, a DNS server, a WAF or a sharing partner."""
        registry = exporter_registry()
        if list_formats:
            for name, exporter in sorted(registry.items()):
                typer.echo(f"{name:24} {exporter.description}")
            return
        if (format_ is None) == (all_dir is None):
            raise HoneyguardError("give either --format NAME or --all DIR (see --list)")
        now = SystemClock().now()
        decisions = list(decision_store(settings_from(config)).active(now).values())
        if all_dir is not None:
            for exporter in registry.values():
                path = _write(exporter, decisions, all_dir / exporter.filename)
                Console(stderr=True).print(f"wrote {path}")
            return
        assert format_ is not None
        if format_ not in registry:
            raise HoneyguardError(f"unknown format {format_!r} (known: {', '.join(sorted(registry))})")
        if out is None and not hasattr(registry[format_], "write_files"):
            registry[format_].write(decisions, now, sys.stdout)
            return
        if out is None:
            raise HoneyguardError(f"{format_} writes a folder: give --out DIR")
        _write(registry[format_], decisions, out)


def _write(exporter: Exporter, decisions: list[Decision], path: Path) -> Path:
    now = SystemClock().now()
    writer = getattr(exporter, "write_files", None)
    if writer is not None:
        writer(decisions, now, path)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        exporter.write(decisions, now, handle)
    tmp.replace(path)  # atomic: a firewall reloading the file never reads half of it
    return path
