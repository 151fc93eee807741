"""``honeyguard rules``: test, list and report coverage of detection rules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.detect.compile import HYPERSCAN_AVAILABLE
from honeyguard.detect.coverage import coverage_markdown, load_kev
from honeyguard.detect.engine import Ruleset, load_rules
from honeyguard.detect.examples import run_examples
from honeyguard.detect.hsnative import NATIVE_AVAILABLE
from honeyguard.detect.rules import Rule

rules_app = typer.Typer(help="Detection rules: run their examples, list them, report KEV coverage.",
                        no_args_is_help=True)
_out = Console()
_err = Console(stderr=True)

PathsArg = Annotated[list[Path] | None, typer.Argument(
    help="Rule files or folders. Default: the built-in rules and settings.detect.rule_dirs.",
    show_default=False)]


def _load(paths: list[Path] | None, config: Path | None) -> tuple[list[Rule], list[str]]:
    if paths:
        rules, errors = load_rules(paths, builtin=False)
    else:
        settings = settings_from(config)
        rules, errors = load_rules([Path(d) for d in settings.detect.rule_dirs])
    return rules, [str(e) for e in errors]


@rules_app.command("test")
def test(paths: PathsArg = None, config: ConfigOption = None) -> None:
    """Run every rule's examples on every engine: a positive must match its rule, a negative must not."""
    rules, errors = _load(paths, config)
    for error in errors:
        _err.print(f"[red]invalid:[/] {error}", highlight=False, soft_wrap=True)
    ruleset = Ruleset(rules)
    engines = [ruleset.engine("re")]
    if HYPERSCAN_AVAILABLE:
        engines.insert(0, ruleset.engine("hyperscan-pip"))
    if NATIVE_AVAILABLE:  # the native scans (what 'auto' uses) beside the pip binding's
        engines.insert(0, ruleset.engine("hyperscan"))
    checks, failures = run_examples(ruleset, engines)
    for failure in failures:
        extra = f" (matched: {', '.join(failure.matched) or 'nothing'})"
        _err.print(f"[red]FAIL[/] {failure}{extra}", highlight=False, soft_wrap=True)
    table = Table(title="rules test")
    for column in ("rules", "examples", "engines", "checks", "invalid rules", "failures"):
        table.add_column(column, justify="right")
    examples = sum(len(r.spec.examples.positive) + len(r.spec.examples.negative) for r in rules)
    table.add_row(str(len(rules)), str(examples), ", ".join(e.backend for e in engines), str(checks),
                  str(len(errors)), str(len(failures)))
    _out.print(table)
    if not HYPERSCAN_AVAILABLE:
        _err.print("[yellow]hyperscan is not installed: only the re engine was tested[/]")
    if errors or failures:
        sys.exit(1)  # not typer.Exit: the entry point runs click with standalone_mode=False
    _out.print("[green]all rule examples pass[/]")


@rules_app.command("list")
def list_rules(paths: PathsArg = None, config: ConfigOption = None,
               cve: Annotated[str | None, typer.Option(help="Only rules naming this CVE.")] = None) -> None:
    """A table of the rules: id, severity, protocol, CVEs, techniques, where."""
    rules, errors = _load(paths, config)
    for error in errors:
        _err.print(f"[red]invalid:[/] {error}", highlight=False, soft_wrap=True)
    table = Table(title=f"{len(rules)} rules")
    for column in ("id", "severity", "protocol", "CVEs", "techniques", "file"):
        table.add_column(column, overflow="fold")
    for rule in sorted(rules, key=lambda r: r.id):
        if cve and cve.upper() not in rule.spec.cves:
            continue
        spec = rule.spec
        table.add_row(spec.id, spec.severity, spec.protocol, ", ".join(spec.cves), ", ".join(spec.techniques),
                      f"{Path(rule.where.file).name}:{rule.where.line}")
    _out.print(table)
    if errors:
        sys.exit(1)  # not typer.Exit: the entry point runs click with standalone_mode=False


@rules_app.command("coverage")
def coverage(kev: Annotated[Path, typer.Option("--kev", help="CISA KEV catalog JSON.")],
             paths: PathsArg = None, config: ConfigOption = None) -> None:
    """Markdown: the KEV CVEs the rules cover, and the network-reachable KEV entries not covered yet."""
    rules, errors = _load(paths, config)
    for error in errors:
        _err.print(f"[red]invalid:[/] {error}", highlight=False, soft_wrap=True)
    print(coverage_markdown(rules, load_kev(kev)), end="")


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")

