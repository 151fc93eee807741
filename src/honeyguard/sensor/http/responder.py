"""A persona compiled for the hot path: routes to prebuilt response bytes.

Everything a response holds is built once at start, in the persona's header order. Per request
only a few slots are filled in: the Date line (rebuilt once a second), the keep-alive lines, and
for templated error pages the body and its Content-Length. Dynamic replies (``shell:``,
``{random_hex:N}``) are filled in by dynamic.py; routes with ``when:`` conditions look at the
request only once their path matched.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import cache
from http import HTTPStatus
from pathlib import Path

from honeyguard.errors import ContentError
from honeyguard.sensor.http.conditions import CompiledCondition, all_hold, compile_conditions
from honeyguard.sensor.http.dynamic import (
    CompiledShell,
    DynamicReply,
    ShellProfile,
    echo_escape_for,
    has_dynamic_marks,
    make_profile,
)
from honeyguard.sensor.http.parser import Request
from honeyguard.sensor.http.persona import HttpPersona, Reply, Route
from honeyguard.sensor.personas import BUILTIN_DIR, load_personas, yaml_line
from honeyguard.sensor.shell.facts import SystemFacts

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
    persona: str = ""  # the persona that answered (recorded on the event)
    head10: tuple[Segment, ...] | None = None  # the head for HTTP/1.0 requests (status_line_version: request)
    dynamic: DynamicReply | None = None  # filled in per request (template is then set too)


@dataclass(frozen=True, slots=True)
class _CompiledRoute:
    methods: frozenset[str]  # empty: any
    prepared: Prepared | None  # None when delegating
    delegate: str | None
    prefix: str | None = None
    regex: re.Pattern[str] | None = None
    conditions: tuple[CompiledCondition, ...] = ()

    def allows(self, method: str) -> bool:
        return not self.methods or method in self.methods


@cache
def builtin_systems() -> dict[str, SystemFacts]:
    """The system facts of the built-in ssh and telnet personas, for HTTP personas' shells."""
    return systems_of(load_personas([BUILTIN_DIR]))


def systems_of(personas: dict[str, object]) -> dict[str, SystemFacts]:
    return {pid: facts for pid, p in personas.items() if isinstance(facts := getattr(p, "system", None), SystemFacts)}


class Router:
    """Finds the reply for a request path, following hand-overs to other personas."""

    def __init__(self, persona: HttpPersona, systems: dict[str, SystemFacts] | None = None) -> None:
        self.persona = persona
        self.exact: dict[str, list[_CompiledRoute]] = {}
        self.patterns: list[_CompiledRoute] = []
        self.errors: dict[str, Prepared] = {}
        self.delegates: dict[str, Router] = {}
        source = Path(persona.source) if persona.source else None
        self._systems = systems
        self._profile: ShellProfile | None = None
        for index, route in enumerate(persona.routes):
            compiled = self._compile_route(route, source, index)
            if route.path is not None:
                self.exact.setdefault(route.path, []).append(compiled)
            else:
                self.patterns.append(compiled)
        # regex routes that may look at the query: tried before an exact path route when a query is present
        self.regex_patterns = [route for route in self.patterns if route.regex is not None]
        for kind, status in _DEFAULT_ERRORS.items():
            reply = persona.errors.get(kind) or Reply(status=status, body="", close=kind in _CLOSING_ERRORS)  # type: ignore[call-overload]
            self.errors[kind] = self._prepare(reply, _load_body(reply, source, ("errors", kind)), source,
                                              ("errors", kind))

    def profile(self, source: Path | None, where: tuple[str | int, ...]) -> ShellProfile:
        """The persona's shell host, resolved on first use (most personas have no shell replies)."""
        if self._profile is None:
            systems = self._systems if self._systems is not None else builtin_systems()
            self._profile = make_profile(self.persona.id, self.persona.shell_host, systems)
            if self._profile is None:
                line = yaml_line(source, "shell_host", "system") if source is not None else None
                raise ContentError(f"shell_host.system {self.persona.shell_host.system!r} names no ssh or telnet "
                                   f"persona with system facts (needed by {'.'.join(map(str, where))}.shell)",
                                   file=str(source) if source else None, line=line, key="shell_host.system")
        return self._profile

    def _prepare(self, reply: Reply, body: bytes, source: Path | None, where: tuple[str | int, ...]) -> Prepared:
        shell = None
        if reply.shell is not None:
            spec = reply.shell
            shell = CompiledShell(spec=spec, regex=re.compile(spec.regex) if spec.regex is not None else None,
                                  profile=self.profile(source, where))
        profile = None
        if "{shell_last}" in body.decode("latin-1") or any("{shell_last}" in v for v in reply.headers.values()):
            profile = self.profile(source, where)
        return prepare(self.persona, reply, body, shell, profile)

    def _compile_route(self, route: Route, source: Path | None, index: int) -> _CompiledRoute:
        methods = frozenset(m.upper() for m in route.methods)
        prepared = None if route.persona else self._prepare(route, _load_body(route, source, ("routes", index)),
                                                            source, ("routes", index))
        return _CompiledRoute(methods=methods, prepared=prepared, delegate=route.persona, prefix=route.prefix,
                              regex=re.compile(route.regex) if route.regex is not None else None,
                              conditions=compile_conditions(route.when))

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

    def find(self, method: str, path: str, target: str, depth: int = 0, request: Request | None = None) -> Prepared:
        """The answer to a request. Exact paths are looked up first (a regex route that matches only
        because of the query still wins over them); a route whose path matches but whose method or
        ``when:`` does not lets later routes try; 405 only when the path matched for no method."""
        lookup = "GET" if method == "HEAD" else method
        refused = False
        candidates = self.exact.get(path)
        if candidates:
            if len(target) != len(path) and self.regex_patterns:
                found = self._query_reader(lookup, method, path, target, depth, request)
                if found is not None:
                    return found
            for route in candidates:
                if not route.allows(lookup):
                    refused = True
                elif not route.conditions or all_hold(route.conditions, request):
                    return self._answer(route, method, path, target, depth, request)
        for route in self.patterns:
            if route.prefix is not None and not path.startswith(route.prefix):
                continue
            if route.regex is not None and route.regex.search(target) is None:
                continue
            if not route.allows(lookup):
                refused = True
            elif not route.conditions or all_hold(route.conditions, request):
                return self._answer(route, method, path, target, depth, request)
        return self.errors["method-not-allowed" if refused else "not-found"]

    def _query_reader(self, lookup: str, method: str, path: str, target: str, depth: int,
                      request: Request | None) -> Prepared | None:
        for route in self.regex_patterns:
            assert route.regex is not None
            if (route.regex.search(target) is not None and route.regex.search(path) is None
                    and route.allows(lookup) and (not route.conditions or all_hold(route.conditions, request))):
                return self._answer(route, method, path, target, depth, request)
        return None

    def _answer(self, route: _CompiledRoute, method: str, path: str, target: str, depth: int,
                request: Request | None) -> Prepared:
        if route.delegate is None:
            assert route.prepared is not None
            return route.prepared
        other = self.delegates.get(route.delegate)
        if other is None or depth > 3:  # hand-over loops end in a plain 404
            return self.errors["not-found"]
        return other.find(method, path, target, depth + 1, request)


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


def prepare(persona: HttpPersona, reply: Reply, body: bytes, shell: CompiledShell | None = None,
            profile: ShellProfile | None = None) -> Prepared:
    """Build a response's head in the persona's header order, leaving the per-request slots."""
    extra = {name.lower(): (name, _auto_value(persona, name, value, body)) for name, value in reply.headers.items()}
    # content_type: "" sends no Content-Type; absent, the persona's default
    content_type = reply.content_type if reply.content_type is not None else persona.default_content_type
    omitted = {name.lower() for name in reply.omit}
    text = body.decode("latin-1")
    dynamic = shell is not None or has_dynamic_marks(text) or any(has_dynamic_marks(v) for v in reply.headers.values())
    template = text if reply.template or dynamic else None
    lines: list[Segment | str] = [f"HTTP/1.1 {reply.status} {reply.reason or reason_phrase(reply.status)}\r\n".encode()]
    placed: set[str] = set()
    for name in persona.header_order:
        lower = name.lower()
        placed.add(lower)
        if lower in omitted:
            continue
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
    if dynamic:  # header values with placeholders stay text, filled per request
        lines = [f"{extra[_header_name(p)][0]}: {extra[_header_name(p)][1]}\r\n"
                 if isinstance(p, bytes) and _header_name(p) in extra and has_dynamic_marks(p.decode("latin-1"))
                 else p for p in lines]
    head = _merge(lines)
    head10 = _http10(head) if persona.status_line_version == "request" else None
    close = reply.close or persona.keep_alive.mode == "close"
    dyn = None
    if dynamic:
        dyn = DynamicReply(head=head, head10=head10, body=text, fill_request_fields=reply.template, shell=shell,
                           profile=profile, echo_escape=echo_escape_for(content_type or ""))
    return Prepared(status=reply.status, head=head, body=b"" if template is not None else body,  # type: ignore[arg-type]
                    template=template, close=close, persona=persona.id, head10=head10, dynamic=dyn)  # type: ignore[arg-type]


def _header_name(line: bytes) -> str:
    return line.split(b":", 1)[0].decode("latin-1").lower()


def _http10(head: tuple[Segment | str, ...]) -> tuple[Segment | str, ...]:
    first = head[0]
    assert isinstance(first, bytes) and first.startswith(b"HTTP/1.1 ")
    return (b"HTTP/1.0 " + first[9:], *head[1:])


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


def _merge(lines: list[Segment | str]) -> tuple[Segment | str, ...]:
    """Join neighbouring constant lines, so a head is a handful of pieces."""
    merged: list[Segment | str] = []
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
