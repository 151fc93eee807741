"""`honeyguard sensor run` (listeners -> spool -> collector) and `honeyguard sensor add NAME`."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.cli._run import (
    ReadyFileOption,
    console,
    listening_table,
    run_async,
    setup_logging,
    write_ready,
)
from honeyguard.config import Settings


def register(app: typer.Typer) -> None:
    sensor = typer.Typer(help="Honeypot sensors: run one, or register one with the collector.",
                         no_args_is_help=True)

    @sensor.command("run")
    def run(config: ConfigOption = None, ready_file: ReadyFileOption = None) -> None:
        """Run the sensor's listeners until Ctrl-C or SIGTERM; every event is spooled, then shipped."""
        settings = settings_from(config)
        setup_logging()
        report = run_async(_run(settings, ready_file))
        console.print(f"sensor stopped: {report.shipped} events shipped this run, {report.pending} "
                      f"waiting in {report.recorded_to}" + (f", {report.dropped} dropped by overflow"
                                                            if report.dropped else ""))

    @sensor.command("add")
    def add(name: Annotated[str, typer.Argument(help="The sensor's name (its events carry it).")],
            config: ConfigOption = None,
            replace: Annotated[bool, typer.Option("--replace", help="Give an existing sensor a new token "
                                                  "(the old one stops working).")] = False) -> None:
        """Register a sensor with the collector's state store and print its token (shown once)."""
        from honeyguard.store.state import StateStore

        settings = settings_from(config)
        state = StateStore(settings.state_url)
        try:
            token = state.add_sensor(name, replace=replace)
        finally:
            state.close()
        typer.echo(token)
        typer.echo(f"sensor {name!r} registered; put this token in sensor.collector.token or token_file",
                   err=True)

    app.add_typer(sensor, name="sensor")


async def _run(settings: Settings, ready_file):  # type: ignore[no-untyped-def]
    from honeyguard.sensor.agent import AgentReport, run_agent
    from honeyguard.sensor.sensor import Sensor

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def ready(sensor: Sensor, report: AgentReport) -> None:
        rows = []
        for listener in sensor.settings.listeners:
            bound = listener.bind_port or listener.port
            mapped = f" (attackers' port {listener.port})" if listener.bind_port else ""
            rows.append((f"{listener.service}{' (TLS)' if listener.tls else ''}",
                         f"{listener.host}:{bound}{mapped}", listener.persona or ""))
        rows.append(("spool", str(report.recorded_to), "every event, until the collector has it"))
        rows.append(("collector", report.shipping_to or "(not shipping)", ""))
        console.print(listening_table(f"honeyguard sensor {sensor.settings.name!r}", rows))
        write_ready(ready_file)

    return await run_agent(settings, stop, on_ready=ready)
