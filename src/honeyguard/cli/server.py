"""`honeyguard server run`: the collector API (ingest, query) on the configured address."""

from __future__ import annotations

import typer

from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.cli._run import ReadyFileOption, console, listening_table, setup_logging, write_ready


def register(app: typer.Typer) -> None:
    server = typer.Typer(help="The collector: receives events from sensors and serves the API.",
                         no_args_is_help=True)

    @server.command("run")
    def run(config: ConfigOption = None, ready_file: ReadyFileOption = None) -> None:
        """Serve the collector API until Ctrl-C or SIGTERM."""
        from honeyguard.server.serve import serve

        settings = settings_from(config)
        setup_logging()
        base = f"http://{_host(settings.server.host)}:{settings.server.port}"

        def ready() -> None:
            console.print(listening_table("honeyguard collector", [
                ("collector API", base + "/api/v1", "POST/GET /events, GET /health"),
                ("OpenAPI", base + "/schema", ""),
                ("events", str(settings.path(settings.server.events_db)), "DuckDB"),
                ("state", settings.state_url, ""),
            ]))
            write_ready(ready_file)

        serve(settings, on_ready=ready)

    app.add_typer(server, name="server")


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
