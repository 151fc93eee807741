"""Replies filled in per request: the output of an injected command, per-response random values.

A reply is dynamic when it has ``shell:`` or when its body or a header holds ``{random_hex:N}``
(or ``{shell}``). Its head keeps the prebuilt pieces of every reply, plus header lines that are
templates (``str`` pieces). The injected command is found where the persona says (a query
parameter, a form field, a header, a regex group), and runs in the emulated shell of sensor/shell
(a fake filesystem per connection: nothing is executed, nothing is fetched); wget and curl in it
are recorded as ``download`` events by the caller's ShellEvents. Command length, output size and
the time the emulator may take (no loops; bounded line length and nesting) are all capped.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from honeyguard.sensor.http.conditions import body_text, decoded, header_values, params, query_of
from honeyguard.sensor.http.parser import Request
from honeyguard.sensor.http.persona import ShellHost, ShellSpec
from honeyguard.sensor.http.phpeval import call_output, php_output
from honeyguard.sensor.shell.facts import SystemFacts

MAX_COMMAND = 2048  # characters of an injected command line that are run
MAX_OUTPUT = 64 * 1024  # bytes of its output written into an answer
MAX_HEADER_VALUE = 4096
MAX_RANDOM_HEX = 256
MAX_DECODE = 256 * 1024  # characters of an encoded payload decoded at most
_UTF16_QP_UNIT = re.compile(r"(=[0-9A-Fa-f]{2}|[^=])=00")
_UTF16_QP_RUN = re.compile(r"(?:(?:=[0-9A-Fa-f]{2}|[^=])=00){8,}")
_BASE64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

PLACEHOLDER = re.compile(r"\{(host|port|method|path|shell|shell_last|random_hex:\d{1,3}|query:[\w\[\].-]{1,64})\}")
DYNAMIC_MARK = re.compile(r"\{(shell|shell_last|random_hex:\d{1,3}|query:[\w\[\].-]{1,64})\}")
MAX_ECHO = 1024  # characters of a query parameter echoed by {query:NAME}
MAX_REMEMBERED = 1024  # clients whose last command output a persona keeps for {shell_last}

Segment = bytes | int | str  # a str piece is a header line to fill in


@dataclass(frozen=True, slots=True)
class ShellProfile:
    """The system one persona's emulated shell answers as."""

    key: str  # the persona id: one shell per persona per connection
    facts: SystemFacts
    hostname: str
    user: str
    cwd: str | None
    busybox: bool
    # the last output per client address, for pages that show it on a later request (router diag pages)
    last: dict[str, str] = field(default_factory=dict, compare=False)

    def remember(self, client: str, output: str) -> None:
        self.last.pop(client, None)
        if len(self.last) >= MAX_REMEMBERED:
            self.last.pop(next(iter(self.last)))
        self.last[client] = output


@dataclass(frozen=True, slots=True)
class CompiledShell:
    spec: ShellSpec
    regex: re.Pattern[str] | None
    profile: ShellProfile


@dataclass(frozen=True, slots=True)
class DynamicReply:
    head: tuple[Segment, ...]
    head10: tuple[Segment, ...] | None  # for HTTP/1.0 requests when the persona echoes the version
    body: str  # latin-1 text of the body bytes, with placeholders
    fill_request_fields: bool  # template: true -> {host} {port} {method} {path} too
    echo_escape: str  # how {query:NAME} and {shell_last} are written: json | html | raw (from the content type)
    shell: CompiledShell | None
    profile: ShellProfile | None = None  # whose remembered output {shell_last} shows


#: Runs one command line in the connection's shell for a profile and returns what it printed.
ShellRunner = Callable[[ShellProfile, str], str]


def make_profile(key: str, host: ShellHost, systems: dict[str, SystemFacts]) -> ShellProfile | None:
    facts = systems.get(host.system)
    if facts is None:
        return None
    if host.uid is not None and not any(line.split(":", 1)[0] == host.user for line in facts.passwd.splitlines()):
        gid = host.gid if host.gid is not None else host.uid
        home = f"/home/{host.user}"
        facts = msgspec.structs.replace(
            facts, passwd=facts.passwd.rstrip("\n") + f"\n{host.user}:x:{host.uid}:{gid}::{home}:/bin/sh\n",
            group=facts.group.rstrip("\n") + f"\n{host.user}:x:{gid}:\n")
    return ShellProfile(key=key, facts=facts, hostname=host.hostname, user=host.user, cwd=host.cwd,
                        busybox=host.busybox)


def echo_escape_for(content_type: str) -> str:
    """How echoed text is written into a body of this type, so that it cannot break out of it."""
    lower = content_type.lower()
    if "json" in lower:
        return "json"
    if "html" in lower or "xml" in lower:
        return "html"
    return "raw"


def has_dynamic_marks(text: str) -> bool:
    return DYNAMIC_MARK.search(text) is not None


# -- finding the command -------------------------------------------------------------------------

def _source_text(spec: ShellSpec, request: Request) -> str | None:
    if spec.query is not None:
        return params(query_of(request.target)).get(spec.query)
    if spec.form is not None:
        return params(body_text(request)).get(spec.form)
    if spec.header is not None:
        values = header_values(request, spec.header)
        return values[0] if values else None
    if spec.body:
        return body_text(request)
    return decoded(request.target) + "\n" + decoded(body_text(request))


def _php_filter_chain(text: str) -> str:
    """Undo ``convert.quoted-printable-encode`` of UTF-16 base64 (what the log-poisoning chain writes):
    the longest run of ``=XX=00`` / ``c=00`` units is the payload, whatever surrounds it."""
    best = max((m.group() for m in _UTF16_QP_RUN.finditer(text[:MAX_DECODE])), key=len, default="")
    chars = [chr(int(unit[1:], 16)) if unit.startswith("=") else unit for unit in _UTF16_QP_UNIT.findall(best)]
    cleaned = "".join(ch for ch in chars if ch in _BASE64_ALPHABET)
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4)).decode("latin-1")
    except (ValueError, binascii.Error):
        return ""


def injected_output(shell: CompiledShell, request: Request, run: Callable[[str], str]) -> str:
    """The output the exploit would read back: its command run, or its PHP answered."""
    spec = shell.spec
    text = _source_text(spec, request)
    if text is not None and spec.decode == "php-filter-chain":
        text = _php_filter_chain(text)
    if text is not None and shell.regex is not None:
        match = shell.regex.search(text)
        # the first group that took part (alternatives for several payload shapes), else the match
        text = None if match is None else next((g for g in match.groups() if g is not None), match.group())
        if text is not None and "\\" in text:
            text = text.replace('\\"', '"').replace("\\'", "'")
    if spec.function is not None:
        function = params(query_of(request.target)).get(spec.function) or params(body_text(request)).get(spec.function)
        if function:
            return call_output(function, text or "", run)
    if text is None or not text.strip():
        return run(spec.default) if spec.default else ""
    if spec.php:
        return php_output(text, run)
    if spec.wrap is not None:
        return run(spec.wrap.replace("{}", text))
    # ";id" or "|id" appended to a value: what runs after the product's own command is the injection
    return run(text.lstrip(" \t;|&\n"))


def bounded_run(runner: ShellRunner, profile: ShellProfile) -> Callable[[str], str]:
    def run(command: str) -> str:
        output = runner(profile, command[:MAX_COMMAND])
        return output[:MAX_OUTPUT]
    return run


# -- filling in ----------------------------------------------------------------------------------

def _escape(text: str, how: str) -> str:
    if how == "html":
        return html.escape(text, quote=False)
    if how == "json":
        return json.dumps(text)[1:-1]
    return text


def header_safe(text: str) -> str:
    """A value fit for a header line: no line breaks (the product would fold or drop them)."""
    return " ".join(text.split())[:MAX_HEADER_VALUE]


def fill(template: str, values: dict[str, str], random_hex: Callable[[int], str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("random_hex:"):
            return random_hex(min(int(name[11:]), MAX_RANDOM_HEX))
        if name.startswith("query:"):
            return values.get(name, "")
        return values.get(name, match.group())
    return PLACEHOLDER.sub(one, template)


def as_latin1(text: str) -> str:
    """Unicode text as the latin-1 view of its UTF-8 bytes (templates are latin-1 views of bytes)."""
    return text.encode("utf-8", "replace").decode("latin-1")


def render(dyn: DynamicReply, request: Request | None, *, host: str, port: int, slots: tuple[bytes, ...],
           runner: ShellRunner, random_hex: Callable[[int], str], client: str = "") -> tuple[bytes, bytes]:
    """The head (slots filled, Content-Length included) and body of one dynamic answer."""
    output = ""
    if dyn.shell is not None and request is not None:
        output = as_latin1(injected_output(dyn.shell, request, bounded_run(runner, dyn.shell.profile)))
        dyn.shell.profile.remember(client, output)
    escape = dyn.shell.spec.escape if dyn.shell is not None else "raw"
    values = {"shell": _escape(output, escape)}
    header_values_ = {"shell": header_safe(output)}
    if dyn.profile is not None:
        last = dyn.profile.last.get(client)
        if last is None:  # nothing run yet by this client: the page shows what `id` prints
            last = as_latin1(bounded_run(runner, dyn.profile)("id"))
        values["shell_last"] = _escape(last, dyn.echo_escape)
        header_values_["shell_last"] = header_safe(last)
    if dyn.fill_request_fields:
        values.update(host=html.escape(host), port=str(port),
                      method=html.escape(request.method) if request else "",
                      path=html.escape(request.target.split("?", 1)[0]) if request else "")
    if request is not None and "{query:" in dyn.body:
        for name, value in params(query_of(request.target)).items():
            value = as_latin1(value[:MAX_ECHO])
            values[f"query:{name}"] = _escape(value, dyn.echo_escape)
    body = fill(dyn.body, values, random_hex).encode("latin-1", "replace")
    head_pieces = dyn.head10 if (dyn.head10 is not None and request is not None
                                 and request.version == "HTTP/1.0") else dyn.head
    parts: list[bytes] = []
    for piece in head_pieces:
        if isinstance(piece, bytes):
            parts.append(piece)
        elif isinstance(piece, int):
            parts.append(slots[piece] if piece != 3 else b"Content-Length: %d\r\n" % len(body))
        else:
            parts.append(fill(piece, header_values_, random_hex).encode("latin-1", "replace"))
    return b"".join(parts), body
