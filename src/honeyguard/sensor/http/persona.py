"""What an HTTP persona file says: the product an HTTP listener pretends to be.

A persona is data (content/personas/*.yaml with ``service: http``). It names the Server header,
the order the product writes its headers in, its keep-alive habits, its pages and its error
pages. Routes are tried in order (exact paths first); a route may hand a path over to another
persona, which is how a listener can answer ``/wp-login.php`` as WordPress and ``/`` as Apache.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

Status = Annotated[int, msgspec.Meta(ge=100, le=599)]

#: The error situations a persona styles; each maps to the status and page the product uses.
ErrorKind = Literal[
    "bad-request",  # unparseable request, bad framing, missing Host on HTTP/1.1
    "not-found",
    "forbidden",
    "method-not-allowed",
    "header-too-large",
    "payload-too-large",
    "plain-http",  # plain HTTP sent to an HTTPS listener
]
ERROR_KINDS: tuple[str, ...] = ErrorKind.__args__  # type: ignore[attr-defined]

#: Placeholders a templated body may use; values are HTML-escaped.
TEMPLATE_FIELDS = ("{host}", "{port}", "{method}", "{path}")


class _Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Reply(_Strict):
    """A response: status, extra headers, a body given inline or as a file beside the persona."""

    status: Status = 200
    reason: str | None = None  # default: the standard reason phrase
    headers: dict[str, str] = {}  # in file order; "ETag: auto" derives it from body and Last-Modified
    content_type: str | None = None
    body: str | None = None
    body_file: str | None = None  # relative to the persona file; may be binary
    template: bool = False  # substitute TEMPLATE_FIELDS in the body (error pages with a footer)
    close: bool = False  # close the connection after answering

    def __post_init__(self) -> None:
        if self.body is not None and self.body_file is not None:
            raise ValueError("give body or body_file, not both")


class Route(Reply):
    """Which requests a reply answers: one of path (exact, query ignored), prefix or regex."""

    path: str | None = None
    prefix: str | None = None
    regex: str | None = None  # searched in the target (path and query)
    methods: list[str] = []  # empty: any method; HEAD is allowed wherever GET is
    persona: str | None = None  # hand matching requests to this persona instead

    def __post_init__(self) -> None:
        super().__post_init__()
        given = [m for m in (self.path, self.prefix, self.regex) if m is not None]
        if len(given) != 1:
            raise ValueError("a route needs exactly one of path, prefix or regex")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None


class KeepAlive(_Strict):
    """How the product keeps connections open, as its headers show it."""

    connection: str = "keep-alive"  # the Connection header value it sends ("Keep-Alive" for Apache)
    header: bool = False  # also send "Keep-Alive: timeout=T, max=N" counting down (Apache)
    timeout: int = 5
    max_requests: Annotated[int, msgspec.Meta(ge=1)] = 100  # then it closes, as the product would


class HttpPersona(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag_field="service", tag="http"):
    id: str
    description: str = ""
    server: str = ""  # the Server header; empty sends none
    server_name: str = "localhost"  # the host named in pages when the request has no Host
    tls_common_name: str | None = None  # certificate CN; default: the sensor's hostname
    date: bool = True  # send a Date header from the sensor's clock
    etag_style: Literal["apache", "nginx"] = "apache"
    last_modified: str | None = None  # default Last-Modified (HTTP date) for "ETag: auto"
    header_order: list[str] = msgspec.field(
        default_factory=lambda: ["Date", "Server", "Content-Length", "Content-Type", "Connection"])
    keep_alive: KeepAlive = msgspec.field(default_factory=KeepAlive)
    routes: list[Route] = []
    errors: dict[ErrorKind, Reply] = {}
    default_content_type: str = "text/html"
    source: str = ""  # the file it was loaded from (set by the loader; body files are relative to it)
