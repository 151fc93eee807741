"""What a rule can look at: the fields of a request, normalised and bounded in length.

A ``Subject`` (subject.py) is one thing to classify (an HTTP request, a shell command, a login,
raw bytes) as a mapping from field name to bytes; HTTP subjects (httpsubject.py) are lazy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from honeyguard.detect.httpfields import native_recorded_raw, python_recorded_raw, recorded_parts
from honeyguard.detect.httpsplit import SplitRequest
from honeyguard.detect.httpsubject import HttpSubject
from honeyguard.detect.normalize import deobfuscate_shell
from honeyguard.detect.subject import FIELD_LIMITS, Subject, field_limit
from honeyguard.detect.subject import cut as _cut
from honeyguard.model import Event, HttpRequest, RawData, RedisCommand, SshCommand, SshLogin

__all__ = [
    "FIELD_LIMITS", "HttpSubject", "Subject", "event_subject", "field_limit", "field_protocol", "field_protocols",
    "http_subject", "is_line_field", "known_field", "looks_like_payload", "raw_http_subject", "raw_subject",
    "redis_subject", "ssh_command_subject", "ssh_login_subject", "text_bytes",
]

HTTP_FIELDS = frozenset({"method", "path", "target", "url", "query", "header.*", "headers", "body", "request"})
SSH_FIELDS = frozenset({"command", "username", "password"})
REDIS_FIELDS = frozenset({"command", "args"})  # `command` is the shell line for ssh, the name for redis
ANY_FIELDS = frozenset({"raw"})
PROTOCOLS = ("http", "ssh", "redis", "other")

def is_line_field(name: str) -> bool:
    """Fields holding one value a line (headers): equals/startswith/endswith apply to each line."""
    return name.startswith("header")


def known_field(name: str) -> bool:
    if name in HTTP_FIELDS or name in SSH_FIELDS or name in REDIS_FIELDS or name in ANY_FIELDS:
        return True
    suffix = name[7:] if name.startswith("header.") else ""
    return bool(suffix) and all(c.isascii() and (c.islower() or c.isdigit() or c in "-_") for c in suffix)


def field_protocol(name: str) -> str:
    """The one protocol owning a field ('any' for raw); see field_protocols for shared names."""
    owners = field_protocols(name)
    return "any" if len(owners) != 1 else next(iter(owners))


def field_protocols(name: str) -> frozenset[str]:
    """The rule protocols a field exists for: every protocol for ``raw``."""
    if name in ANY_FIELDS:
        return frozenset(PROTOCOLS)
    owners = {p for p, names in (("ssh", SSH_FIELDS), ("redis", REDIS_FIELDS)) if name in names}
    return frozenset(owners) if owners else frozenset({"http"})


def http_subject(method: bytes, target: bytes, version: bytes, headers: Iterable[tuple[bytes, bytes]],
                 body: bytes, raw: bytes | None = None) -> Subject:
    """The fields of one HTTP request (see docs/rules.md for what each holds), built lazily."""
    return HttpSubject(SplitRequest(method, target, version, list(headers), body), raw)


_PAYLOAD = re.compile(rb"\$\{|\(\)\s*\{|\$\(|`|\||wget|curl|/dev/|base64|jndi|<\?", re.IGNORECASE)
_FUNCTION = re.compile(rb"\(\)\s*\{")  # Shellshock's '() {'


def looks_like_payload(value: bytes) -> bool:
    """A header value worth mining for IOCs (Log4Shell, Shellshock, injected commands).

    Crawler User-Agents and Referers carry URLs too, but those are not indicators, so a header
    only counts when it carries code; a plain URL is not enough.
    """
    # _PAYLOAD's alternatives tested one by one: 'in' finds a literal far faster than a caseless
    # alternation steps through the text (the regex stays the reference, tests compare the two)
    # (b"`"[0], an int: 'bytes in bytes' raises and clears a TypeError inside CPython 3.11, find does not)
    if b"`"[0] in value or b"|"[0] in value or value.find(b"<?") >= 0:
        return True
    if b"$"[0] in value and (value.find(b"${") >= 0 or value.find(b"$(") >= 0):
        return True
    lower = value.lower()
    if lower.find(b"wget") >= 0 or lower.find(b"curl") >= 0 or lower.find(b"/dev/") >= 0:
        return True
    if lower.find(b"base64") >= 0 or lower.find(b"jndi") >= 0:
        return True
    return value.find(b"()") >= 0 and _FUNCTION.search(value) is not None


def raw_http_subject(data: bytes) -> Subject:
    """Raw bytes a client sent: split as HTTP when they look like it (lazily), else matched as ``raw``."""
    return HttpSubject(None, data)


def raw_subject(data: bytes, protocol: str = "other") -> Subject:
    cut = _cut("raw", data)
    return Subject(_subject_protocol(protocol), {"raw": cut}, texts=(cut,))


def ssh_command_subject(line: bytes) -> Subject:
    cleaned = deobfuscate_shell(line[: FIELD_LIMITS["command"]])
    text = line if cleaned == line else line + b"\n" + cleaned
    cut = _cut("command", text)
    return Subject("ssh", {"command": cut, "raw": _cut("raw", line)}, texts=(cut,))


def ssh_login_subject(username: bytes, password: bytes) -> Subject:
    fields = {"username": _cut("username", username), "password": _cut("password", password)}
    fields["raw"] = fields["username"] + b"\n" + fields["password"]
    return Subject("ssh", fields)


def redis_subject(args: list[bytes]) -> Subject:
    """One Redis command: ``command`` its name upper-cased, ``args`` the rest joined by spaces,
    ``raw`` the whole line. The line is also the payload mined for IOCs (cron lines, EVAL
    scripts); the rogue master of SLAVEOF/REPLICAOF is read from the fields (iocs.redis)."""
    name = args[0].upper() if args else b""  # bytes.upper changes ASCII letters only
    rest = b" ".join(args[1:])
    raw = _cut("raw", b" ".join(args))
    return Subject("redis", {"command": _cut("command", name), "args": _cut("args", rest), "raw": raw},
                   texts=(raw,))


def _subject_protocol(protocol: str) -> str:
    if protocol in ("http", "https"):
        return "http"
    if protocol in ("ssh", "telnet"):
        return "ssh"
    return "other"


def _text(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # text decoded as UTF-8 (surrogateescape keeps undecodable bytes)
        return value.encode("utf-8", "surrogateescape")


def event_subject(event: Event) -> Subject | None:
    """The subject of a sensor event, or None for kinds no rule looks at (connect, close...)."""
    body = event.body
    if isinstance(body, HttpRequest):
        return _request_subject(body)
    if isinstance(body, SshCommand):
        return ssh_command_subject(_text(body.line))
    if isinstance(body, SshLogin):
        return ssh_login_subject(_text(body.username), _text(body.password or ""))
    if isinstance(body, RedisCommand):
        return redis_subject([_text(a) for a in body.args])
    if isinstance(body, RawData):
        return raw_subject(body.data, event.protocol)
    return None


def _request_subject(request: HttpRequest) -> Subject:
    """A recorded request's subject. Most requests match no rule: the raw bytes the prefilter scans
    are made in one go (what HttpSubject.raw_bytes makes of the parts), and the parts (a bytes
    object per header name and value) only when a field needs them."""
    target = request.target
    if "\n" not in target and "\r" not in target:  # (such a target gets no prefilter view)
        method, version, headers, body = request.method, request.version, request.headers, request.body
        raw = native_recorded_raw(method, target, version, headers, body) if native_recorded_raw else None
        if raw is None:  # (not latin-1, or not built)
            raw = python_recorded_raw(method, target, version, headers, body)
        if raw is not None:
            return HttpSubject(None, raw, request, body)
    return HttpSubject(_request_parts(request), None)


def _request_parts(request: HttpRequest) -> SplitRequest:
    try:  # most requests are latin-1
        return recorded_parts(request)
    except UnicodeEncodeError:
        headers = [(_text(n), _text(v)) for n, v in request.headers]
        line = (_text(request.method), _text(request.target), _text(request.version))
    return SplitRequest(*line, headers, request.body)


def text_bytes(value: str) -> bytes:
    """Rule text (patterns, examples) as bytes: latin-1 when it fits, else UTF-8."""
    return _text(value)
