"""A persona compiled for the hot path: routes to prebuilt response bytes.

Everything a response holds is built once at start, in the persona's header order. Per request
only a few slots are filled in: the Date line (rebuilt once a second), the keep-alive lines, and
for templated error pages the body and its Content-Length.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path

from honeyguard.errors import ContentError
from honeyguard.sensor.http.persona import HttpPersona, Reply, Route
from honeyguard.sensor.personas import yaml_line

# Reason phrases as Apache and nginx write them (Python's table has newer wording for some).
_REASONS = {413: "Request Entity Too Large", 414: "Request-URI Too Long", 416: "Requested Range Not Satisfiable"}
_DEFAULT_ERRORS: dict[str, int] = {
    "bad-request": 400, "not-found": 404, "forbidden": 403, "method-not-allowed": 405,
    "header-too-large": 400, "payload-too-large": 413, "plain-http": 400,
}
_CLOSING_ERRORS = {"bad-request", "header-too-large", "payload-too-large", "plain-http"}

# The slots of a head filled in per request.
DATE, KEEP_ALIVE, CONNECTION, LENGTH = range(4)
Segment = bytes | int


@dataclass(frozen=True, slots=True)
class Prepared:
    """One response, ready but for its slots."""

    status: int
    head: tuple[Segment, ...]
    body: bytes  # empty when templated
    template: str | None  # the body, with {host} {port} {method} {path} to fill in
    close: bool


@dataclass(frozen=True, slots=True)
class _CompiledRoute:
    methods: frozenset[str]  # empty: any
    prepared: Prepared | None  # None when delegating
    delegate: str | None
    prefix: str | None = None
    regex: re.Pattern[str] | None = None

    def allows(self, method: str) -> bool:
        return not self.methods or method in self.methods


class Router:
    """Finds the reply for a request path, following hand-overs to other personas."""

    def __init__(self, persona: HttpPersona) -> None:
        self.persona = persona
        self.exact: dict[str, list[_CompiledRoute]] = {}
        self.patterns: list[_CompiledRoute] = []
        self.errors: dict[str, Prepared] = {}
        self.delegates: dict[str, Router] = {}
        source = Path(persona.source) if persona.source else None
        for index, route in enumerate(persona.routes):
            compiled = _compile_route(persona, route, source, index)
            if route.path is not None:
                self.exact.setdefault(route.path, []).append(compiled)
            else:
                self.patterns.append(compiled)
        for kind, status in _DEFAULT_ERRORS.items():
            reply = persona.errors.get(kind) or Reply(status=status, body="", close=kind in _CLOSING_ERRORS)  # type: ignore[call-overload]
            self.errors[kind] = prepare(persona, reply, _load_body(reply, source, ("errors", kind)))

    def link(self, routers: dict[str, Router]) -> list[str]:
        """Resolve hand-overs to other personas; returns the ids that do not exist."""
        missing = []
        for route in [r for routes in self.exact.values() for r in routes] + self.patterns:
            if route.delegate is not None:
                if route.delegate in routers:
                    self.delegates[route.delegate] = routers[route.delegate]
                else:
                    missing.append(route.delegate)
        return missing

    def find(self, method: str, path: str, target: str, depth: int = 0) -> Prepared:
        lookup = "GET" if method == "HEAD" else method
        refused = False
        candidates = self.exact.get(path)
        if candidates:
            for route in candidates:
                if route.allows(lookup):
                    return self._answer(route, method, path, target, depth)
            refused = True
        else:
            for route in self.patterns:
                if route.prefix is not None and not path.startswith(route.prefix):
                    continue
                if route.regex is not None and route.regex.search(target) is None:
                    continue
                if route.allows(lookup):
                    return self._answer(route, method, path, target, depth)
                refused = True
                break
        return self.errors["method-not-allowed" if refused else "not-found"]

    def _answer(self, route: _CompiledRoute, method: str, path: str, target: str, depth: int) -> Prepared:
        if route.delegate is None:
            assert route.prepared is not None
            return route.prepared
        other = self.delegates.get(route.delegate)
        if other is None or depth > 3:  # hand-over loops end in a plain 404
            return self.errors["not-found"]
        return other.find(method, path, target, depth + 1)


def _compile_route(persona: HttpPersona, route: Route, source: Path | None, index: int) -> _CompiledRoute:
    methods = frozenset(m.upper() for m in route.methods)
    prepared = None if route.persona else prepare(persona, route, _load_body(route, source, ("routes", index)))
    return _CompiledRoute(methods=methods, prepared=prepared, delegate=route.persona, prefix=route.prefix,
                          regex=re.compile(route.regex) if route.regex is not None else None)


def _load_body(reply: Reply, source: Path | None, where: tuple[str | int, ...]) -> bytes:
    if reply.body_file is None:
        return (reply.body or "").encode("utf-8")
    base = source.parent if source is not None else Path.cwd()
    path = base / reply.body_file
    try:
        return path.read_bytes()
    except OSError as exc:
        line = yaml_line(source, *where, "body_file") if source is not None else None
        key = ".".join(str(w) for w in where) + ".body_file"
        raise ContentError(f"cannot read body file {reply.body_file!r}: {exc.strerror or exc}",
                           file=str(source) if source else None, line=line, key=key) from None


def reason_phrase(status: int) -> str:
    if status in _REASONS:
        return _REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def prepare(persona: HttpPersona, reply: Reply, body: bytes) -> Prepared:
    """Build a response's head in the persona's header order, leaving the per-request slots."""
    extra = {name.lower(): (name, _auto_value(persona, name, value, body)) for name, value in reply.headers.items()}
    content_type = reply.content_type or persona.default_content_type
    template = body.decode("latin-1") if reply.template else None
    lines: list[Segment] = [f"HTTP/1.1 {reply.status} {reply.reason or reason_phrase(reply.status)}\r\n".encode()]
    placed: set[str] = set()
    for name in persona.header_order:
        lower = name.lower()
        placed.add(lower)
        if lower in extra:
            lines.append(_line(*extra[lower]))
        elif lower == "date" and persona.date:
            lines.append(DATE)
        elif lower == "server" and persona.server:
            lines.append(_line("Server", persona.server))
        elif lower == "content-length":
            lines.append(LENGTH if template is not None else _line("Content-Length", str(len(body))))
        elif lower == "content-type" and content_type:
            lines.append(_line("Content-Type", content_type))
        elif lower == "connection":
            lines.append(CONNECTION)
        elif lower == "keep-alive" and persona.keep_alive.header:
            lines.append(KEEP_ALIVE)
    for lower, (name, value) in extra.items():
        if lower not in placed:
            lines.append(_line(name, value))
    if "connection" not in placed:
        lines.append(CONNECTION)
    lines.append(b"\r\n")
    return Prepared(status=reply.status, head=_merge(lines), body=b"" if template is not None else body,
                    template=template, close=reply.close)


def _auto_value(persona: HttpPersona, name: str, value: str, body: bytes) -> str:
    """``auto`` for Last-Modified and ETag: derived from the persona's date and the body, as the product does."""
    if value != "auto":
        return value
    modified = persona.last_modified or "Mon, 01 Jan 2024 00:00:00 GMT"
    when = _http_date(modified)
    if name.lower() == "last-modified":
        return modified
    if name.lower() == "etag":
        seconds = int(when.timestamp())
        if persona.etag_style == "nginx":
            return f'"{seconds:x}-{len(body):x}"'
        return f'"{len(body):x}-{seconds * 1_000_000 + 123456:x}"'  # Apache: size - mtime in microseconds
    return value


def _http_date(text: str) -> datetime:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise ContentError(f"not an HTTP date: {text!r}", key="last_modified") from None


def _line(name: str, value: str) -> bytes:
    return f"{name}: {value}\r\n".encode("latin-1", "replace")


def _merge(lines: list[Segment]) -> tuple[Segment, ...]:
    """Join neighbouring constant lines, so a head is a handful of pieces."""
    merged: list[Segment] = []
    for piece in lines:
        if isinstance(piece, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] = merged[-1] + piece
        else:
            merged.append(piece)
    return tuple(merged)


def fill_template(template: str, *, host: str, port: int, method: str, path: str) -> bytes:
    return (template.replace("{host}", html.escape(host)).replace("{port}", str(port))
            .replace("{method}", html.escape(method)).replace("{path}", html.escape(path))
            .encode("latin-1", "replace"))


class DateLine:
    """The ``Date:`` header line, rebuilt at most once a second."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._second = -1
        self._line = b""

    def get(self) -> bytes:
        now = self._now()
        second = int(now.timestamp())
        if second != self._second:
            self._second = second
            self._line = f"Date: {format_datetime(now.replace(microsecond=0), usegmt=True)}\r\n".encode()
        return self._line
