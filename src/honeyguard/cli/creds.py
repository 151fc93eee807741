"""`honeyguard creds ...`: credential protection. `scan` finds exposed AWS keys."""

from __future__ import annotations

import sys
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console

from honeyguard.cli._common import ConfigOption, settings_from

creds_app = typer.Typer(help="Credential protection: find exposed cloud keys.", no_args_is_help=True)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


def register(app: typer.Typer) -> None:
    from honeyguard.cli import _creds_actions as creds_actions

    creds_actions.add_commands(creds_app)
    app.add_typer(creds_app, name="creds")


@creds_app.command("scan")
def scan(
    paths: Annotated[list[str] | None, typer.Argument(
        help="Files, folders, archives, notebooks; - for stdin.", show_default=False)] = None,
    git: Annotated[bool, typer.Option("--git", help="Scan every commit of each repository's history.")]
    = False,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="text, json or sarif.")]
    = OutputFormat.text,
    baseline: Annotated[Path | None, typer.Option(help="Suppress findings listed in this baseline.")]
    = None,
    write_baseline: Annotated[Path | None, typer.Option(
        "--write-baseline", help="Write (or extend) a baseline with this scan's findings.")] = None,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Ask STS GetCallerIdentity whether each paired key works.")] = False,
    include_examples: Annotated[bool, typer.Option(
        "--include-examples", help="Also report AWS documentation example keys.")] = False,
    include_resource_ids: Annotated[bool, typer.Option(
        "--include-resource-ids", help="Also report IAM resource ids (AIDA, AROA, ...).")] = False,
    canary_accounts: Annotated[Path | None, typer.Option(
        "--canary-accounts", help="Extra canary accounts (YAML, as content/creds/canary-accounts.yaml).")]
    = None,
    quarantine: Annotated[bool, typer.Option(
        "--quarantine", help="Quarantine each exposed key pair found (IAM deny policy, per policy).")]
    = False,
    notify: Annotated[bool, typer.Option(
        "--notify", help="Record exposures and notify the owners (channels from creds.notify).")] = False,
    config: ConfigOption = None,
) -> None:
    """Find exposed AWS access keys. Exit status 1 when an exposed key is found, 0 otherwise."""
    from honeyguard.creds import ScanInputError, Scanner, ScanOptions, judge, report
    from honeyguard.creds import baseline as baselines
    from honeyguard.creds.verify import sts_endpoint, verify_hits

    if not paths:  # checked here, not by click, so the mistake is one line and exit 2
        raise ScanInputError("give at least one PATH to scan (- for standard input)")
    settings = settings_from(config)
    canaries = dict(judge.builtin_canaries())
    if canary_accounts is not None:
        canaries.update(judge.load_canaries(canary_accounts))
    known = baselines.load_baseline(baseline) if baseline is not None else None
    options = ScanOptions(include_examples=include_examples, include_resource_ids=include_resource_ids,
                          canaries=canaries)
    err = Console(stderr=True)
    with err.status("scanning...", spinner="dots"):
        result = Scanner(options).scan_paths(paths, git=git)
    if verify:
        with err.status("verifying with STS...", spinner="dots"):
            verify_hits(result.hits, endpoint_url=sts_endpoint(settings.creds.sts_endpoint_url),
                        region=settings.creds.sts_region)
    findings = [hit.finding for hit in result.hits]
    suppressed = 0
    if known is not None:
        findings, suppressed = baselines.suppress(findings, known)
    if write_baseline is not None:
        baselines.write_baseline(write_baseline, findings, known)
    _emit(findings, output, suppressed, report)
    if quarantine or notify:
        from honeyguard.cli._creds_actions import act_on_findings

        repository = str(Path(paths[0]).resolve()) if git and len(paths) == 1 else None
        act_on_findings(findings, settings, err, quarantine=quarantine, notify=notify, repository=repository)
    stats = result.stats
    if output is OutputFormat.text:
        err.print(f"scanned {stats.files} files, {stats.bytes / 1e6:.1f} MB, {stats.archives} archives, "
                  f"{stats.commits} commits; {stats.binary_skipped} binary files skipped",
                  markup=False, highlight=False)
    for warning in stats.warnings[:20]:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    if any(f.verdict == "exposed" and f.kind == "access-key" for f in findings):
        raise SystemExit(1)  # like a linter: CI fails on an exposed key (run() passes SystemExit on)


def _emit(findings, output: OutputFormat, suppressed: int, report) -> None:  # type: ignore[no-untyped-def]
    if output is OutputFormat.json:
        sys.stdout.buffer.write(report.to_json(findings) + b"\n")
    elif output is OutputFormat.sarif:
        document = report.to_sarif(findings, _version())
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n")
    else:
        report.print_table(findings, Console(), suppressed=suppressed)
    sys.stdout.flush()


def _version() -> str:
    try:
        return version("honeyguard")
    except PackageNotFoundError:
        return "0.0.0"
