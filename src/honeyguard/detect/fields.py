"""What a rule can look at: the fields of a request, normalised and bounded in length.

A ``Subject`` is one thing to classify (an HTTP request, a shell command, a login, raw bytes)
as a mapping from field name to bytes. Each field is cut to a fixed length before matching
(``FIELD_LIMITS``): Hyperscan is linear in the input anyway, and the bound keeps the
pure-``re`` fallback's worst case (a regex that backtracks polynomially) small and known.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from honeyguard.detect.httpsplit import split_http
from honeyguard.detect.normalize import (
    decode_repeated,
    decoded_text,
    deobfuscate_shell,
    normalize_path,
    raw_plus_decoded,
    resolve_log4j_lookups,
)
from honeyguard.model import Event, HttpRequest, RawData, SshCommand, SshLogin

HTTP_FIELDS = frozenset({"method", "path", "target", "url", "query", "header.*", "headers", "body", "request"})
SSH_FIELDS = frozenset({"command", "username", "password"})
ANY_FIELDS = frozenset({"raw"})
PROTOCOLS = ("http", "ssh", "other")

#: The most bytes of each field a rule sees; the rest of a longer value is not matched.
FIELD_LIMITS: dict[str, int] = {
    "method": 64, "target": 16384, "url": 16384, "path": 16384, "query": 16384,
    "header": 16384, "header.*": 32768, "headers": 32768, "body": 65536, "request": 131072,
    "raw": 65536, "command": 16384, "username": 1024, "password": 1024,
}


def field_limit(name: str) -> int:
    return FIELD_LIMITS["header"] if name.startswith("header.") and name != "header.*" else FIELD_LIMITS[name]


def is_line_field(name: str) -> bool:
    """Fields holding one value a line (headers): equals/startswith/endswith apply to each line."""
    return name.startswith("header")


def known_field(name: str) -> bool:
    if name in HTTP_FIELDS or name in SSH_FIELDS or name in ANY_FIELDS:
        return True
    suffix = name[7:] if name.startswith("header.") else ""
    return bool(suffix) and all(c.isascii() and (c.islower() or c.isdigit() or c in "-_") for c in suffix)


def field_protocol(name: str) -> str:
    if name in SSH_FIELDS:
        return "ssh"
    if name in ANY_FIELDS:
        return "any"
    return "http"


@dataclass(frozen=True, slots=True)
class Subject:
    """One thing to classify: its protocol ('http', 'ssh', 'other') and its fields."""

    protocol: str
    fields: dict[str, bytes]
    host: bytes = b""  # the Host the client asked for: never an IOC of its own
    texts: tuple[bytes, ...] = field(default=())  # payload parts for IOC extraction
    header_values: tuple[bytes, ...] = ()  # searched for IOCs when they carry code (looks_like_payload)


def _cut(name: str, value: bytes) -> bytes:
    limit = FIELD_LIMITS.get(name) or field_limit(name)
    return value if len(value) <= limit else value[:limit]


# The limits http_subject applies inline (it runs for every request; FIELD_LIMITS is the reference).
_TEXT, _LINES, _BODY = FIELD_LIMITS["target"], FIELD_LIMITS["headers"], FIELD_LIMITS["body"]
_REQUEST, _RAW, _METHOD = FIELD_LIMITS["request"], FIELD_LIMITS["raw"], FIELD_LIMITS["method"]


def http_subject(method: bytes, target: bytes, version: bytes, headers: Iterable[tuple[bytes, bytes]],
                 body: bytes, raw: bytes | None = None) -> Subject:
    """The fields of one HTTP request (see docs/rules.md for what each holds)."""
    path_raw, _, query_raw = _origin_form(target).partition(b"?")
    url = decoded_text(target[:_TEXT])
    values: list[bytes] = []
    lines: list[bytes] = []
    decoded_lines: list[bytes] = []
    fields: dict[str, bytes] = {}
    host = b""
    for name, value in headers:
        resolved = _header_value(value[:_TEXT])
        key = "header." + name.lower().decode("latin-1")
        old = fields.get(key)
        fields[key] = resolved if old is None else _cut(key, old + b"\n" + resolved)
        values.append(resolved)
        lines.append(name + b": " + value)
        decoded_lines.append(name + b": " + resolved)
        if key == "header.host" and not host:
            host = value.strip()
    header_lines = b"\n".join(lines)
    body_text = raw_plus_decoded(body[:_BODY]) if body else b""
    query = decoded_text(query_raw, plus_is_space=True)[:_TEXT] if query_raw else b""
    fields["method"] = method[:_METHOD]
    fields["target"] = target[:_TEXT]
    fields["url"] = url
    fields["path"] = resolve_log4j_lookups(normalize_path(decode_repeated(path_raw)))[:_TEXT]
    fields["query"] = query
    fields["header.*"] = b"\n".join(values)[:_LINES]
    fields["headers"] = header_lines[:_LINES]
    fields["body"] = body_text[:_BODY]
    request = b"%s %s %s\n%s\n\n%s" % (method, url, version, b"\n".join(decoded_lines), body_text)
    fields["request"] = request[:_REQUEST]
    if raw is None:
        raw = b"%s %s %s\r\n%s\r\n\r\n%s" % (method, target, version, b"\r\n".join(lines), body)
    fields["raw"] = raw[:_RAW]
    # IOC text: '+' is a space in queries and form bodies (wget+http://x/a+-O+y)
    ioc_url = url.split(b"?", 1)[0] + b"?" + query if query_raw else url
    ioc_body = body[:_BODY]
    if b"+" in ioc_body and b"=" in ioc_body:
        ioc_body = decode_repeated(ioc_body, plus_is_space=True)
    return Subject("http", fields, host=host, texts=(ioc_url, ioc_body), header_values=tuple(values))


_PAYLOAD = re.compile(rb"\$\{|\(\)\s*\{|\$\(|`|\||wget|curl|/dev/|base64|jndi|<\?", re.IGNORECASE)


def looks_like_payload(value: bytes) -> bool:
    """A header value worth mining for IOCs (Log4Shell, Shellshock, injected commands).

    Crawler User-Agents and Referers carry URLs too, but those are not indicators, so a header
    only counts when it carries code; a plain URL is not enough.
    """
    return _PAYLOAD.search(value) is not None


def _header_value(value: bytes) -> bytes:
    """A header value with Log4j lookups resolved, plus its percent-decoded form on a second line
    when that differs (cookies and forwarded values arrive URL-encoded)."""
    value = resolve_log4j_lookups(value.replace(b"\n", b" ").replace(b"\r", b" "))
    if b"%" not in value:
        return value
    decoded = resolve_log4j_lookups(decode_repeated(value)).replace(b"\n", b" ").replace(b"\r", b" ")
    return value if decoded == value else value + b"\n" + decoded


def _origin_form(target: bytes) -> bytes:
    """'http://host/p?q' -> '/p?q' (absolute-form targets, sent to proxies)."""
    lowered = target[:8].lower()
    if lowered.startswith((b"http://", b"https://")):
        rest = target.split(b"//", 1)[1]
        slash = rest.find(b"/")
        return rest[slash:] if slash >= 0 else b"/"
    return target


def raw_http_subject(data: bytes) -> Subject:
    """Raw bytes a client sent: split as HTTP when they look like it, else matched as ``raw``."""
    split = split_http(data)
    if split is None:
        return raw_subject(data, "http")
    return http_subject(split.method, split.target, split.version, split.headers, split.body, raw=data)


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
        headers = [(_text(n), _text(v)) for n, v in body.headers]
        return http_subject(_text(body.method), _text(body.target), _text(body.version), headers, body.body)
    if isinstance(body, SshCommand):
        return ssh_command_subject(_text(body.line))
    if isinstance(body, SshLogin):
        return ssh_login_subject(_text(body.username), _text(body.password or ""))
    if isinstance(body, RawData):
        return raw_subject(body.data, event.protocol)
    return None


def text_bytes(value: str) -> bytes:
    """Rule text (patterns, examples) as bytes: latin-1 when it fits, else UTF-8."""
    return _text(value)
