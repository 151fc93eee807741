"""`honeyguard decisions list|explain|add|delete`: what is enforced, why, and manual overrides."""

from __future__ import annotations

import sys
from typing import Annotated

import msgspec
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.cli._stores import decision_store
from honeyguard.clock import SystemClock, SystemEntropy
from honeyguard.errors import HoneyguardError
from honeyguard.intel.imports import TYPES, normalise
from honeyguard.mitigate.policy import parse_duration
from honeyguard.model import UuidV7Factory
from honeyguard.model.decision import Decision, GuardrailCheck

_VERDICT_STYLE = {"pass": "green", "fail": "bold red", "soft-fail": "yellow", "skip": "dim"}


def register(app: typer.Typer) -> None:
    decisions = typer.Typer(help="Decisions: what is dropped or alerted on, and why.", no_args_is_help=True)

    @decisions.command("list")
    def list_decisions(config: ConfigOption = None,
                       as_json: Annotated[bool, typer.Option("--json", help="One JSON decision a line.")] = False,
                       ) -> None:
        """Decisions in force now."""
        now = SystemClock().now()
        current = sorted(decision_store(settings_from(config)).active(now).values(), key=lambda d: (d.type, d.value))
        if as_json:
            for d in current:
                sys.stdout.write(msgspec.json.encode(d).decode() + "\n")
            return
        table = Table(title=f"{len(current)} decisions in force")
        for column in ("value", "type", "action", "direction", "roles", "conf", "expires", "origin"):
            table.add_column(column)
        for d in current:
            table.add_row(Text(d.value), d.type, d.action, d.direction, "/".join(d.roles), str(d.confidence),
                          d.expires_at.strftime("%Y-%m-%d %H:%M"), d.origin + (" (simulated)" if d.simulated else ""))
        Console().print(table)

    @decisions.command("explain")
    def explain(value: str, config: ConfigOption = None) -> None:
        """Why VALUE is (or is not) blocked: each decision with every guardrail check, figure and verdict."""
        found = decision_store(settings_from(config)).for_value(value)
        if not found:
            raise HoneyguardError(f"no decision was ever made about {value!r}")
        console = Console()
        for d in found:
            console.print(_headline(d))
            console.print(_trace(d.trace))

    @decisions.command("add")
    def add(value: str,
            type_: Annotated[str, typer.Option("--type", help="ip, cidr, domain, url, ...")] = "ip",
            action: Annotated[str, typer.Option(help="drop, alert or none (none = never block: an override)")] = "drop",
            direction: Annotated[str, typer.Option(help="ingress, egress or both")] = "ingress",
            duration: Annotated[str, typer.Option(help="How long, like 12h, 7d, 2w.")] = "1d",
            reason: Annotated[str, typer.Option(help="Why (kept with the decision).")] = "manual",
            config: ConfigOption = None) -> None:
        """A manual decision (or override), with an expiry and a reason."""
        decision = _manual(value, type_, action, direction, duration, reason)
        decision_store(settings_from(config)).save([decision])
        Console().print(f"{decision.action} {decision.direction} {Text(decision.value)} until "
                        f"{decision.expires_at:%Y-%m-%d %H:%M} UTC ({decision.id})")

    @decisions.command("delete")
    def delete(value: str, config: ConfigOption = None) -> None:
        """Withdraw every decision in force about VALUE."""
        store = decision_store(settings_from(config))
        now = SystemClock().now()
        gone = [msgspec.structs.replace(d, withdrawn_at=now) for d in store.active(now).values() if d.value == value]
        if not gone:
            raise HoneyguardError(f"no decision in force about {value!r}")
        store.save(gone)
        Console().print(f"withdrew {len(gone)} decision(s) about {value}")

    app.add_typer(decisions, name="decisions")


def _manual(value: str, type_: str, action: str, direction: str, duration: str, reason: str) -> Decision:
    if type_ not in TYPES:
        raise HoneyguardError(f"unknown type {type_!r} (known: {', '.join(sorted(TYPES))})")
    if action not in ("drop", "alert", "none") or direction not in ("ingress", "egress", "both"):
        raise HoneyguardError("action must be drop, alert or none; direction ingress, egress or both")
    try:
        value = normalise(type_, value)
        length = parse_duration(duration)
    except ValueError as exc:
        raise HoneyguardError(str(exc)) from None
    from honeyguard.model.indicator import indicator_id

    now = SystemClock().now()
    return Decision(id=UuidV7Factory(SystemEntropy()).new(now), indicator_id=indicator_id(type_, value), type=type_,
                    value=value, action=action, direction=direction, created_at=now,  # type: ignore[arg-type]
                    expires_at=now + length, origin="manual", reason=reason, roles=["manual"], confidence=100,
                    trace=[GuardrailCheck(check="manual", verdict="pass", detail=reason)])


def _headline(d: Decision) -> Text:
    state = "withdrawn" if d.withdrawn_at else ("simulated" if d.simulated else "in force")
    return Text.assemble((f"{d.action.upper()} {d.direction}", "bold"), f" {d.type} ", (d.value, "cyan"),
                         f"  [{state}, {d.origin}] created {d.created_at:%Y-%m-%d %H:%M}, "
                         f"expires {d.expires_at:%Y-%m-%d %H:%M} UTC\n  {d.reason}")


def _trace(trace: list[GuardrailCheck]) -> Table:
    table = Table(show_header=True, box=None, padding=(0, 2))
    for column in ("check", "verdict", "figure", "limit", "detail"):
        table.add_column(column)
    for check in trace:
        table.add_row(check.check, Text(check.verdict, style=_VERDICT_STYLE.get(check.verdict, "")),
                      Text(check.figure), check.limit, Text(check.detail))
    return table
