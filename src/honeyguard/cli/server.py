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
        from honeyguard.server.auth import reads_need_token
        from honeyguard.server.serve import serve
        from honeyguard.server.tls import prepare_certificate

        settings = settings_from(config)
        setup_logging()
        certificate = prepare_certificate(settings)  # generated once when server.tls.self_signed
        base = f"{'https' if certificate else 'http'}://{_host(settings.server.host)}:{settings.server.port}"

        def ready() -> None:
            rows = [
                ("collector API", base + "/api/v1", "POST/GET /events, GET /health"),
                ("OpenAPI", base + "/schema", ""),
                ("events", str(settings.path(settings.server.events_db)), "DuckDB"),
                ("state", settings.state_url, ""),
            ]
            if certificate is not None:
                rows.append(("TLS certificate", str(certificate.cert_file),
                              "generated now" if certificate.generated else "sha256 below"))
            rows.append(("reads", "need a reader token" if reads_need_token(settings.server) else "open (loopback)",
                         "server.require_auth"))
            if (nats := settings.server.nats) is not None:  # consumed in the background, reconnecting
                rows.append(("NATS ingest", ", ".join(nats.servers),
                             f"stream {nats.stream}, {nats.subject_prefix}.*"))
            console.print(listening_table("honeyguard collector", rows))
            if certificate is not None:  # on one line, for sensor.collector.pin_sha256
                console.print(f"TLS certificate sha256: {certificate.fingerprint}", soft_wrap=True, highlight=False)
            write_ready(ready_file)

        serve(settings, on_ready=ready, certificate=certificate)

    app.add_typer(server, name="server")


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
