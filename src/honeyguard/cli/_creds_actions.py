"""`honeyguard creds quarantine` and `creds rotated`, and the `scan --quarantine` step: acting on keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.config import Settings


def _store(settings: Settings) -> Any:
    from honeyguard.store.creds import CredsStore
    from honeyguard.store.state import StateStore

    return CredsStore(StateStore(settings.state_url))


def quarantiner_for(settings: Settings) -> Any:
    from honeyguard.creds.quarantine import Quarantiner, iam_client

    endpoint = settings.creds.iam_endpoint_url or os.environ.get("AWS_ENDPOINT_URL_IAM")
    return Quarantiner(iam_client(endpoint, settings.creds.sts_region), store=_store(settings))


def quarantine(
    key_id: Annotated[str, typer.Argument(help="The access key id (AKIA...).", show_default=False)],
    release: Annotated[bool, typer.Option("--release", help="Remove the quarantine policy.")] = False,
    reason: Annotated[str, typer.Option(help="Recorded with the quarantine.")] = "manual",
    config: ConfigOption = None,
) -> None:
    """Attach (or with --release remove) the compromised-key deny policy on the key's IAM user."""
    quarantiner = quarantiner_for(settings_from(config))
    result = quarantiner.release(key_id) if release else quarantiner.quarantine(key_id, reason)
    words = {"attached": "quarantined: policy {p} attached to IAM user {u}",
             "already-attached": "already quarantined: policy {p} is on IAM user {u}",
             "released": "released: policy {p} removed from IAM user {u}",
             "not-attached": "not quarantined: IAM user {u} has no policy {p}"}
    typer.echo(f"{key_id}: " + words[result.status].format(p=result.policy_name, u=result.user_name))


def rotated(
    key_id: Annotated[str, typer.Argument(help="The access key id that was replaced.", show_default=False)],
    config: ConfigOption = None,
) -> None:
    """Record that an exposed key was rotated (a new key at the same source is then a re-leak)."""
    from honeyguard.clock import SystemClock

    store = _store(settings_from(config))
    count = store.mark_rotated(key_id, SystemClock().now())
    typer.echo(f"{key_id}: marked rotated at {count} source(s)")


def act_on_findings(findings: list[Any], settings: Settings, err: Console, *, quarantine: bool, notify: bool,
                    repository: str | None) -> None:
    """After a scan: quarantine (per policy) and/or record and notify each exposed key."""
    from datetime import timedelta

    from honeyguard.clock import SystemClock
    from honeyguard.creds.exposures import ExposureBook, exposure_from
    from honeyguard.creds.notify import Notifier, Templates, channels_from
    from honeyguard.creds.quarantine import AutoPolicy, quarantine_exposed

    def say(text: str) -> None:
        err.print(text, markup=False, highlight=False, soft_wrap=True)

    results: dict[str, Any] = {}
    if quarantine:
        for outcome in quarantine_exposed(findings, quarantiner_for(settings), AutoPolicy()):
            if outcome.result is not None:
                results[outcome.key_id] = outcome.result
                say(f"quarantine {outcome.key_id}: {outcome.result.status} ({outcome.result.user_name})")
            else:
                say(f"quarantine {outcome.key_id}: failed: {outcome.error}")
    if not notify:
        return
    n = settings.creds.notify
    store = _store(settings)
    notifier = Notifier(channels_from(n, settings.creds.sts_region), store=store,
                        templates=Templates(Path(n.template_dir) if n.template_dir else None),
                        renotify=timedelta(hours=n.renotify_hours))
    book = ExposureBook(store)
    now = SystemClock().now()
    for finding in findings:
        if finding.verdict != "exposed" or finding.kind != "access-key":
            continue
        assessment = book.record(exposure_from(finding, now, repository=repository))
        reason = "quarantine was not requested (--quarantine)" if not quarantine else "see the scan output"
        sent = notifier.notify(assessment, results.get(finding.key_id), quarantine_reason=reason)
        state = "already notified" if sent.suppressed else f"sent via {', '.join(sent.sent) or 'nothing'}"
        releak = " RE-LEAK" if assessment.releak else ""
        say(f"notify {finding.key_id_masked} at {finding.file}:{releak} {state}"
            + (f"; errors: {'; '.join(sent.errors)}" if sent.errors else ""))


def add_commands(app: typer.Typer) -> None:
    app.command("quarantine")(quarantine)
    app.command("rotated")(rotated)
