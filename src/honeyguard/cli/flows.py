"""``honeyguard flows analyze``: VPC flow logs -> infected instances, scanners, downloads, blast radius."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.errors import HoneyguardError

if TYPE_CHECKING:  # duckdb and pyarrow load only when a flows command runs, not for every command
    from honeyguard.intel.flows import FlowReport

flows_app = typer.Typer(
    help="Flow-log analytics (AWS VPC Flow Logs v2), read with DuckDB straight from the files.", no_args_is_help=True
)
_out = Console()


class FlowSettingsError(HoneyguardError):
    """A threshold given on the command line is out of range."""


_err = Console(stderr=True)


@flows_app.command("analyze")
def analyze(
    paths: Annotated[list[Path], typer.Argument(help="Flow-log files (plain or .gz) or folders.", show_default=False)],
    indicators: Annotated[
        Path | None,
        typer.Option("--indicators", "-i", help="Indicators CSV: value,type,role,confidence (types ip and cidr)."),
    ] = None,
    internal: Annotated[
        list[str] | None,
        typer.Option("--internal", help="An internal range (CIDR) besides RFC 1918 and fc00::/7; repeatable."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    scan_min_targets: Annotated[int | None, typer.Option(help="Outbound scanner: distinct targets.")] = None,
    scan_window: Annotated[int | None, typer.Option(help="Outbound scanner: window in seconds.")] = None,
    download_min_bytes: Annotated[int | None, typer.Option(help="Malware download: bytes.")] = None,
    memory_limit: Annotated[str | None, typer.Option(help="DuckDB memory limit, e.g. 1GB.")] = None,
    threads: Annotated[int | None, typer.Option(help="DuckDB threads (default: all cores).")] = None,
    store: Annotated[
        bool,
        typer.Option(
            "--store",
            help="Keep the findings and blast-radius figures in the state store (the mitigation guardrails read them).",
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Find infected instances, outbound scanners and malware downloads; blast radius and candidate C2."""
    from honeyguard.intel.flows import FlowSettings, analyze_flows

    overrides = {
        "internal_cidrs": internal,
        "scan_min_targets": scan_min_targets,
        "scan_window_s": scan_window,
        "download_min_bytes": download_min_bytes,
        "memory_limit": memory_limit,
        "threads": threads,
    }
    try:
        settings = msgspec.convert({k: v for k, v in overrides.items() if v is not None}, FlowSettings)
    except msgspec.ValidationError as exc:
        raise FlowSettingsError(f"invalid option: {exc}") from None
    if as_json:
        report = analyze_flows(paths, indicators=indicators, settings=settings)
    else:
        with _err.status("reading flow logs with DuckDB..."):
            report = analyze_flows(paths, indicators=indicators, settings=settings)
    if store:
        _store(report, config)
    if as_json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
        return
    _print_tables(report)


def _store(report: FlowReport, config: Path | None) -> None:
    from honeyguard.cli._stores import intel_store
    from honeyguard.clock import SystemClock

    intel = intel_store(settings_from(config))
    saved = intel.save_findings(report.findings)
    sized = intel.save_blast_radius(
        ((b.indicator, b.internal_hosts, b.flows) for b in report.blast_radius), SystemClock().now()
    )
    _err.print(f"stored {saved} findings and {sized} blast-radius figures")


def _print_tables(report: FlowReport) -> None:
    findings = Table(title=f"findings ({len(report.findings)})")
    for column in ("kind", "severity", "subject", "indicators", "evidence", "first seen", "last seen"):
        findings.add_column(column)
    for f in report.findings:
        evidence = msgspec.to_builtins(f.evidence)
        evidence.pop("kind", None)
        summary = ", ".join(f"{k}={v}" for k, v in evidence.items() if v not in (None, [], False))
        findings.add_row(
            f.kind,
            f.severity,
            f.subject,
            ", ".join(f.indicators[:5]),
            summary,
            f.first_seen.isoformat(),
            f.last_seen.isoformat(),
        )
    _out.print(findings)
    blast = Table(title=f"blast radius ({len(report.blast_radius)} indicators seen)")
    for column in ("indicator", "roles", "confidence", "internal hosts", "accepted flows", "all flows"):
        blast.add_column(column)
    for b in report.blast_radius[:50]:
        blast.add_row(
            b.indicator, ", ".join(b.roles), str(b.confidence), str(b.internal_hosts), str(b.flows), str(b.all_flows)
        )
    _out.print(blast)
    candidates = Table(title=f"candidate C2 ({len(report.candidate_c2)})")
    for column in ("address", "infected peers", "other hosts", "flows", "ports"):
        candidates.add_column(column)
    for c in report.candidate_c2:
        candidates.add_row(
            c.value, str(c.infected_peers), str(c.other_hosts), str(c.flows), ", ".join(map(str, c.ports[:10]))
        )
    _out.print(candidates)
    counts = Table(title="input")
    counts.add_column("what")
    counts.add_column("count", justify="right")
    malformed = ((f"malformed: {k}", v) for k, v in msgspec.structs.asdict(report.malformed).items())
    for name, value in [*msgspec.structs.asdict(report.stats).items(), *malformed]:
        counts.add_row(name, str(value))
    _out.print(counts)
    for problem in report.problems:
        _err.print(f"[yellow]warning:[/] {problem}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(flows_app, name="flows")
