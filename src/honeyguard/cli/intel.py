"""`honeyguard intel list|explain|import|allow`: indicators of threat infrastructure.

Reads go to the running collector's API; with no collector running, the indicators are rebuilt
here from the event store (opened read-only) and the imports.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import msgspec
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from honeyguard.cli._api import TokenOption, api_client, api_token, collector_url
from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.cli._stores import intel_store
from honeyguard.clock import SystemClock
from honeyguard.config import Settings
from honeyguard.errors import HoneyguardError
from honeyguard.intel.imports import TYPES, normalise
from honeyguard.model.indicator import Indicator

if TYPE_CHECKING:
    from honeyguard.intel.service import IntelService

_list_decoder = msgspec.json.Decoder(dict[str, Any])


def register(app: typer.Typer) -> None:
    intel = typer.Typer(help="Indicators of threat infrastructure: scored, explained, imported.",
                        no_args_is_help=True)

    @intel.command("list")
    def list_indicators(
        config: ConfigOption = None,
        type_: Annotated[str | None, typer.Option("--type", help="ip, cidr, domain, url, sha256, ...")] = None,
        role: Annotated[str | None, typer.Option(help="scanner, exploiter, c2, malware-host, ...")] = None,
        state: Annotated[str | None, typer.Option(help="candidate, verified, expired, allowlisted")] = None,
        min_confidence: Annotated[int, typer.Option("--min-confidence", min=0, max=100)] = 0,
        limit: Annotated[int, typer.Option(min=1)] = 100,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON indicator a line.")] = False,
        token: TokenOption = None,
    ) -> None:
        """Indicators, most confident first."""
        settings = settings_from(config)
        params = {"type": type_, "role": role, "state": state, "min_confidence": min_confidence, "limit": limit}
        found = _from_api(settings, "/api/v1/indicators", params, token)
        if found is not None:
            indicators = msgspec.convert(found["indicators"], list[Indicator])
        else:
            indicators = [i for i in _local(settings).indicators()
                          if (type_ is None or i.type == type_) and (role is None or role in i.roles)
                          and (state is None or i.state == state) and i.confidence >= min_confidence]
            indicators.sort(key=lambda i: (-i.confidence, i.type, i.value))
            indicators = indicators[:limit]
        if as_json:
            for ind in indicators:
                sys.stdout.write(msgspec.json.encode(ind).decode() + "\n")
            return
        Console().print(_table(indicators))

    @intel.command("explain")
    def explain(value: str, config: ConfigOption = None, token: TokenOption = None) -> None:
        """Why VALUE scores what it does: its evidence and every term of the formula."""
        settings = settings_from(config)
        found = _from_api(settings, f"/api/v1/indicators/{value}", {}, token)
        explained = found if found is not None else [msgspec.to_builtins(e) for e in _local(settings).explain(value)]
        if not explained:
            raise HoneyguardError(f"no indicator for {value!r}")
        for item in explained:
            _print_explanation(item)

    @intel.command("import")
    def import_file(path: Path,
                    source: Annotated[str | None, typer.Option(help="Source name (default: the file name).")] = None,
                    config: ConfigOption = None) -> None:
        """Import indicators from a CSV (value,type,role,confidence) or a STIX 2.1 bundle."""
        if not path.exists():
            raise HoneyguardError(f"{path}: no such file")
        from honeyguard.intel.service import IntelService

        service = IntelService(intel_store(settings_from(config)), SystemClock())
        result = service.import_file(path, source=source)
        err = Console(stderr=True)
        for problem in result.errors:
            err.print(Text(f"{path}:{problem.line}: {problem.message}"))
        Console().print(f"imported {len(result.indicators)} indicators from {path} "
                        f"({len(result.errors)} rows skipped)")
        if result.errors and not result.indicators:
            raise typer.Exit(1)

    @intel.command("allow")
    def allow(value: str, reason: Annotated[str, typer.Option(help="Why it must never be blocked.")],
              type_: Annotated[str, typer.Option("--type")] = "ip",
              expires: Annotated[datetime | None, typer.Option(help="Until (UTC); default: until removed.")] = None,
              config: ConfigOption = None) -> None:
        """Allowlist VALUE: it stays `allowlisted` and is never blocked."""
        if type_ not in TYPES:
            raise HoneyguardError(f"unknown type {type_!r}")
        try:
            value = normalise(type_, value)
        except ValueError as exc:
            raise HoneyguardError(str(exc)) from None
        from datetime import UTC

        from honeyguard.intel.service import IntelService

        until = expires.replace(tzinfo=expires.tzinfo or UTC) if expires else None
        IntelService(intel_store(settings_from(config)), SystemClock()).allow(type_, value, reason, until)
        Console().print(f"allowlisted {type_} {value}" + (f" until {until:%Y-%m-%d %H:%M} UTC" if until else ""))

    app.add_typer(intel, name="intel")


def _from_api(settings: Settings, path: str, params: dict[str, Any], token: str | None) -> Any | None:
    """The collector's answer, or None when no collector listens (then the caller works locally)."""
    base = collector_url(settings)
    try:
        with api_client(settings, base, api_token(settings, token), timeout=10) as client:
            response = client.get(base + path, params={k: v for k, v in params.items() if v is not None})
    except httpx.TransportError:
        return None
    if response.status_code == 404:
        return []
    if response.status_code in (401, 403):
        raise HoneyguardError(f"collector answered {response.status_code}: {response.text[:200]} (give a reader "
                              "token: --token, $HONEYGUARD_TOKEN, or `honeyguard token add NAME --role reader`)")
    if response.status_code != 200:
        raise HoneyguardError(f"collector answered {response.status_code}: {response.text[:200]}")
    return _list_decoder.decode(response.content) if response.content.startswith(b"{") else response.json()


def ip_confidences(settings: Settings, min_confidence: int, token: str | None = None) -> dict[str, int]:
    """Every IP indicator at or above ``min_confidence`` -> its confidence: from the collector when
    one listens (all pages), else rebuilt locally from the stored events and feeds."""
    params: dict[str, Any] = {"type": "ip", "min_confidence": min_confidence, "limit": 10_000, "offset": 0}
    found: dict[str, int] = {}
    while (page := _from_api(settings, "/api/v1/indicators", params, token)) is not None:
        for item in msgspec.convert(page["indicators"], list[Indicator]) if page else []:
            found[item.value] = max(item.confidence, found.get(item.value, 0))
        if not page or page.get("next") is None:
            return found
        params["offset"] = page["next"]
    return {i.value: i.confidence for i in _local(settings).indicators()
            if i.type == "ip" and i.confidence >= min_confidence}


def _local(settings: Settings) -> IntelService:
    from honeyguard.intel.service import IntelService
    from honeyguard.server.defense import stored_events
    from honeyguard.store.events import EventStore

    service = IntelService(intel_store(settings), SystemClock())
    path = settings.path(settings.server.events_db)
    if path.exists():
        store = EventStore(path, read_only=True)
        try:
            service.load(stored_events(store))
        finally:
            store.close()
    else:
        service.load([])
    return service


def _table(indicators: list[Indicator]) -> Table:
    table = Table(title=f"{len(indicators)} indicators")
    for column in ("value", "type", "roles", "conf", "state", "sightings", "sensors", "last seen", "cves"):
        table.add_column(column)
    for i in indicators:
        table.add_row(Text(i.value), i.type, "/".join(i.roles), str(i.confidence), i.state, str(i.sightings),
                      str(len(i.sensors)), f"{i.last_seen:%Y-%m-%d %H:%M}", ", ".join(i.cves[:3]))
    return table


def _print_explanation(item: dict[str, Any]) -> None:
    console = Console()
    ind, score = item["indicator"], item["score"]
    roles = "/".join(ind["roles"])
    console.print(Text.assemble((f"{ind['type']} ", "bold"), (ind["value"], "cyan"),
                                f"  confidence {ind['confidence']}  state {ind['state']}  roles {roles}"))
    console.print(Text(f"  {item['verified_by']}"))
    console.print(Text(f"  {score['formula']}", style="dim"))
    for source in score["sources"]:
        capped = " (capped)" if source["capped"] else ""
        console.print(Text(f"  source {source['source']}: p = {source['probability']:.3f}{capped}"))
        for role in source["roles"]:
            console.print(Text(f"    {role['role']}: A = {role['accumulated']:.3f}, decayed {role['decayed']:.3f} "
                               f"(half-life {role['half_life_days']:g} d, last {role['last_at']})"))
    evidence = Table(title="evidence (strongest kept)", box=None, padding=(0, 2))
    for column in ("at", "reason", "sensor", "event"):
        evidence.add_column(column)
    for e in ind["evidence"][:20]:
        evidence.add_row(str(e["at"])[:19], Text(e["reason"]), e.get("sensor") or e.get("source") or "",
                         e.get("event_id") or "")
    console.print(evidence)
