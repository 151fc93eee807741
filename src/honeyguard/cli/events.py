"""`honeyguard events list` and `honeyguard events tail`: events from the collector's API."""

from __future__ import annotations

import sys
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import msgspec
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from honeyguard.cli._api import TokenOption, api_client, api_token, collector_url
from honeyguard.cli._common import ConfigOption, settings_from
from honeyguard.config import Settings
from honeyguard.errors import AuthError, StoreError

PAGE = 1000
_page_decoder = msgspec.json.Decoder(dict[str, Any])

KindOption = Annotated[str | None, typer.Option("--kind", "-k", help="Only this event kind.")]
SensorOption = Annotated[str | None, typer.Option("--sensor", "-s", help="Only this sensor.")]
UrlOption = Annotated[str | None, typer.Option("--url", help="Collector URL (default: from the settings).")]


def register(app: typer.Typer) -> None:
    events = typer.Typer(help="Events recorded by the sensors, from the collector.", no_args_is_help=True)

    @events.command("list")
    def list_events(
        config: ConfigOption = None, url: UrlOption = None, kind: KindOption = None,
        sensor: SensorOption = None,
        src_ip: Annotated[str | None, typer.Option("--src-ip", help="Only from this address.")] = None,
        since: Annotated[datetime | None, typer.Option(help="From this time (UTC unless given).")] = None,
        until: Annotated[datetime | None, typer.Option(help="Before this time.")] = None,
        limit: Annotated[int, typer.Option(min=1, help="At most this many events.")] = 50,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON event per line.")] = False,
        token: TokenOption = None,
    ) -> None:
        """List events, oldest first (a table, or JSON lines with --json)."""
        client = _Client(settings_from(config), url, token)
        params = {"kind": kind, "sensor": sensor, "src_ip": src_ip, "since": _iso(since),
                  "until": _iso(until)}
        raws = client.collect(params, limit)
        if as_json:
            for raw in raws:
                sys.stdout.write(msgspec.json.encode(raw).decode() + "\n")
            return
        table = _table(f"{len(raws)} events")
        for raw in raws:
            table.add_row(*map(Text, _row(raw)))  # Text: attacker strings are never markup
        Console().print(table)

    @events.command("tail")
    def tail(
        config: ConfigOption = None, url: UrlOption = None, kind: KindOption = None,
        sensor: SensorOption = None,
        rows: Annotated[int, typer.Option(min=1, help="Rows kept on screen.")] = 30,
        interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 1.0,
        last: Annotated[float, typer.Option(min=0, help="Start with the events of the last N seconds.")] = 300,
        token: TokenOption = None,
    ) -> None:
        """Follow new events live until Ctrl-C."""
        client = _Client(settings_from(config), url, token)
        shown: deque[tuple[str, ...]] = deque(maxlen=rows)
        params: dict[str, str | None] = {"kind": kind, "sensor": sensor,
                                         "since": _iso(datetime.now(UTC) - timedelta(seconds=last))}
        try:
            with Live(_render(shown, client.url), auto_refresh=False) as live:
                while True:
                    page, cursor = client.page(params, PAGE)
                    for raw in page:
                        shown.append(_row(raw))
                    if cursor or page:
                        params["after"] = cursor or page[-1]["id"]
                    live.update(_render(shown, client.url), refresh=True)
                    if not cursor:  # caught up: wait for more
                        time.sleep(interval)
        except KeyboardInterrupt:
            return

    app.add_typer(events, name="events")


class _Client:
    def __init__(self, settings: Settings, url: str | None, token: str | None) -> None:
        self.url = (url or collector_url(settings)).rstrip("/")
        self._http = api_client(settings, self.url, api_token(settings, token))

    def page(self, params: dict[str, str | None], limit: int) -> tuple[list[dict[str, Any]], str | None]:
        query = {k: v for k, v in params.items() if v is not None} | {"limit": str(limit)}
        try:
            response = self._http.get(self.url + "/api/v1/events", params=query)
        except httpx.HTTPError as exc:
            raise StoreError(f"cannot reach the collector at {self.url}: {exc}") from None
        if response.status_code in (401, 403):
            raise AuthError(f"collector at {self.url} answered {response.status_code}: {response.text[:200]} "
                            "(give a reader token: --token, $HONEYGUARD_TOKEN, or `honeyguard token add`)")
        if response.status_code != 200:
            raise StoreError(f"collector at {self.url} answered {response.status_code}: "
                             f"{response.text[:200]}")
        body = _page_decoder.decode(response.content)
        return body["events"], body.get("next")

    def collect(self, params: dict[str, str | None], limit: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            page, cursor = self.page(params, min(PAGE, limit - len(found)))
            found.extend(page)
            if not cursor:
                break
            params = params | {"after": cursor}
        return found


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _table(title: str) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for name in ("time (UTC)", "sensor", "kind", "source", "port", "what"):
        table.add_column(name, overflow="fold")
    return table


def _render(rows: deque[tuple[str, ...]], url: str) -> Table:
    table = _table(f"following {url} (Ctrl-C stops)")
    for row in rows:
        table.add_row(*map(Text, row))
    return table


def _row(raw: dict[str, Any]) -> tuple[str, ...]:
    return (str(raw.get("ts", ""))[:23].replace("T", " "), str(raw.get("sensor", "")),
            str(raw.get("kind", "")), f"{raw.get('src_ip', '')}:{raw.get('src_port', '')}",
            str(raw.get("dst_port", "")), _what(raw))


def _what(raw: dict[str, Any]) -> str:
    """A short line about the event's body, for people (the JSON has everything)."""
    body = raw.get("body") or {}
    kind = raw.get("kind")
    if kind == "http.request":
        text = f"{body.get('method', '')} {body.get('target', '')} -> {body.get('status', '')}"
    elif kind == "ssh.login":
        secret = body.get("password") if body.get("password") is not None else body.get("key_type", "")
        text = f"{body.get('username', '')} / {secret} {'OK' if body.get('success') else 'denied'}"
    elif kind == "ssh.command":
        text = str(body.get("line", ""))
    elif kind == "download":
        text = str(body.get("url", ""))
    elif kind == "upload":
        text = f"{body.get('filename', '')} ({body.get('size', 0)} bytes)"
    elif kind == "session.closed":
        text = str(body.get("reason", ""))
    else:
        text = ""
    labels = ", ".join((raw.get("cves") or []) + (raw.get("rules") or [])[:3])
    line = f"{text}  [{labels}]" if labels else text
    return line[:160].replace("\n", "\\n")
