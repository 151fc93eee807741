"""`honeyguard cloudtrail ingest FILES...`: find uses of honeytoken keys in CloudTrail logs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from honeyguard.cli._api import TokenOption
from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.errors import HoneyguardError

cloudtrail_app = typer.Typer(help="CloudTrail logs: honeytoken use.", no_args_is_help=True)


class CloudTrailInputError(HoneyguardError):
    """A path given on the command line does not exist."""


def register(app: typer.Typer) -> None:
    app.add_typer(cloudtrail_app, name="cloudtrail")


def sync_harvests(events_db: Path, creds_store: Any, since: datetime | None = None) -> int:
    """Learn which honeytoken went to whom from stored sensor events (read-only, paged)."""
    from honeyguard.creds.honeytokens import harvests_from_events
    from honeyguard.model import decode_event
    from honeyguard.store.events import EventQuery, EventStore

    store = EventStore(events_db, read_only=True)
    learned = 0
    try:
        after: str | None = None
        while True:
            page = store.query(EventQuery(since=since, after=after, limit=5000))
            events = [decode_event(raw) for raw in page.raws]
            learned += int(creds_store.record_issued(harvests_from_events(events)))
            if page.next is None:
                return learned
            after = page.next
    finally:
        store.close()


@cloudtrail_app.command("ingest")
def ingest(
    files: Annotated[list[Path] | None, typer.Argument(
        help="CloudTrail log files (.json.gz or .json) or folders of them.", show_default=False)] = None,
    decoy_account: Annotated[list[str] | None, typer.Option(
        "--decoy-account", help="A honeytoken account: any key of it is ours (repeatable).")] = None,
    events_db: Annotated[Path | None, typer.Option(
        "--events-db", help="Sensor events (DuckDB) to learn served honeytokens from first. "
        "Default: the server's events_db when it exists.")] = None,
    output: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    quarantine: Annotated[bool, typer.Option(
        "--quarantine", help="Quarantine customer keys (AKIA) that signed calls from addresses held as "
        "attackers (IP indicators at or above the auto-quarantine confidence).")] = False,
    config: ConfigOption = None,
    token: TokenOption = None,
) -> None:
    """Find uses of honeytoken keys; record who harvested and who used each as indicators and a finding.
    With --quarantine, also quarantine customer keys used from known attacker addresses."""
    from honeyguard.creds.honeytoken_intel import ingest as run_ingest
    from honeyguard.creds.keyid import mask
    from honeyguard.store.creds import CredsStore
    from honeyguard.store.intel import IntelStore
    from honeyguard.store.state import StateStore

    if not files:
        raise CloudTrailInputError("give at least one CloudTrail file or folder")
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise CloudTrailInputError(f"no such file or folder: {', '.join(missing[:3])}")
    settings = settings_from(config)
    state = StateStore(settings.state_url)
    creds_store, intel_store = CredsStore(state), IntelStore(state)
    err = Console(stderr=True)
    events_path = events_db or settings.path(settings.server.events_db)
    if events_db is not None or events_path.exists():
        learned = sync_harvests(events_path, creds_store)
        err.print(f"learned {learned} served honeytoken(s) from {events_path}", markup=False, highlight=False)
    decoys = [*settings.creds.decoy_accounts, *(decoy_account or [])]
    attackers = _attacker_confidences(settings, token, err) if quarantine else {}
    with err.status("reading CloudTrail...", spinner="dots"):
        report = run_ingest(files, creds_store=creds_store, intel_store=intel_store, decoy_accounts=decoys,
                            attacker_ips=attackers)
    outcomes = _quarantine(report.from_attackers, attackers, settings, err) if quarantine else []
    if output == "json":
        typer.echo(msgspec.json.encode({"findings": report.findings, "indicators": report.indicators,
                                        "quarantine": outcomes, "problems": report.stats.problems}).decode())
    else:
        table = Table(title="honeytoken keys used")
        for column in ("key", "harvested by", "sensor / path", "harvested at", "used from", "calls", "API calls"):
            table.add_column(column)
        for linked in report.linked:
            h, use = linked.harvest, linked.use
            table.add_row(mask(use.key_id), h.src_ip if h else "?", f"{h.sensor} {h.path}" if h else "?",
                          h.issued_at.isoformat(timespec="seconds") if h else "?", ", ".join(sorted(use.ips)[:5]),
                          str(use.calls), ", ".join(sorted(use.event_names)[:6]))
        Console().print(table)
    for problem in report.stats.problems[:20]:
        err.print(f"warning: {problem.file}: {problem.message}", markup=False, highlight=False)
    s = report.stats
    err.print(f"{s.files} files, {s.records} records, {s.matched} honeytoken calls, {len(report.linked)} keys, "
              f"{len(report.indicators)} indicators, {len(report.findings)} findings, {len(s.problems)} problems",
              markup=False, highlight=False)


def _attacker_confidences(settings: Any, token: str | None, err: Console) -> dict[str, int]:
    from honeyguard.cli.intel import ip_confidences
    from honeyguard.creds.quarantine import AutoPolicy

    attackers = ip_confidences(settings, AutoPolicy().min_attacker_confidence, token)
    err.print(f"{len(attackers)} attacker address(es) at confidence >= {AutoPolicy().min_attacker_confidence}",
              markup=False, highlight=False)
    return attackers


def _quarantine(uses: dict[str, Any], attackers: dict[str, int], settings: Any, err: Console) -> list[Any]:
    from honeyguard.cli._creds_actions import quarantiner_for
    from honeyguard.creds.keyid import mask
    from honeyguard.creds.quarantine import quarantine_attacker_uses

    outcomes = quarantine_attacker_uses(uses, attackers, quarantiner_for(settings)) if uses else []
    for outcome in outcomes:
        result = outcome.result
        state = f"{result.status} ({result.user_name})" if result else f"failed: {outcome.error}"
        err.print(f"quarantine {mask(outcome.key_id)}: {state}", markup=False, highlight=False)
    return outcomes
