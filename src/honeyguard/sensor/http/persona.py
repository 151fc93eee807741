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

#: Placeholders a templated body may use; values are HTML-escaped. Dynamic replies also fill
#: ``{shell}`` (the output of the reply's emulated command) and ``{random_hex:N}`` (N hex digits).
TEMPLATE_FIELDS = ("{host}", "{port}", "{method}", "{path}")


class _Strict(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


def _check_regex(pattern: str | None) -> None:
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex: {exc}") from None


class Condition(_Strict):
    """One test on a request whose path matched: a header, a query parameter, the body or the target.

    Without ``contains`` or ``regex`` the condition is that the header or parameter is present
    (for ``body``/``target``: not empty). ``header: "*"`` tests every header. Values are tested as
    received and percent-decoded; at most the first 16 KiB of each is looked at.
    """

    header: str | None = None
    query: str | None = None
    body: bool = False
    target: bool = False
    contains: str | None = None  # case-insensitive substring
    regex: str | None = None  # searched
    negate: bool = False  # the condition holds when the test fails

    def __post_init__(self) -> None:
        chosen = [self.header is not None, self.query is not None, self.body, self.target]
        if sum(chosen) != 1:
            raise ValueError("a condition names exactly one of header, query, body or target")
        if self.contains is not None and self.regex is not None:
            raise ValueError("give contains or regex, not both")
        _check_regex(self.regex)


class ShellSpec(_Strict):
    """Where a reply finds the command an exploit injects; it runs in the emulated shell (never a real one).

    The source is one of query, form, header or body; without one, the percent-decoded target and
    body are searched with ``regex``. ``regex`` picks group 1 (or the whole match) out of the source.
    ``php: true`` reads the source as PHP: ``system('...')``-style calls run their command, ``echo``
    and ``print`` of a string, ``md5('x')`` and ``7*7`` are answered as PHP would.
    """

    query: str | None = None  # a query parameter (e.g. "vars[1][]")
    form: str | None = None  # a field of a urlencoded body
    header: str | None = None
    body: bool = False  # the whole body
    regex: str | None = None
    php: bool = False
    function: str | None = None  # a query or form field naming the PHP function given the command (ThinkPHP)
    default: str | None = None  # the command when none is found (None: empty output)
    wrap: str | None = None  # the command line the product builds around the value, "{}" for it ("ping -c 1 {}")
    # decode the source before ``regex``: php-filter-chain is the quoted-printable UTF-16 base64 that
    # Ignition exploits (CVE-2021-3129) write into the log; the regex then reads the phar inside
    decode: Literal["php-filter-chain"] | None = None
    escape: Literal["raw", "html", "json"] = "raw"  # how the output is written into the body

    def __post_init__(self) -> None:
        chosen = [self.query is not None, self.form is not None, self.header is not None, self.body]
        if sum(chosen) > 1:
            raise ValueError("a shell source is one of query, form, header or body")
        if sum(chosen) == 0 and self.regex is None and self.function is None:
            raise ValueError("a shell needs a source (query, form, header, body) or a regex")
        _check_regex(self.regex)


class ShellHost(_Strict):
    """The system the emulated shell of a persona answers as (user, host name, files)."""

    system: str = "openssh-ubuntu-22.04"  # an ssh or telnet persona whose ``system:`` facts are used
    hostname: str = "localhost"
    user: str = "root"
    uid: int | None = None  # adds the user to /etc/passwd when the facts do not have it
    gid: int | None = None
    cwd: str | None = None  # the working directory (created if missing)
    busybox: bool = False  # ash's error wording ("sh: x: not found")


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
    shell: ShellSpec | None = None  # run the injected command; its output fills {shell}
    omit: list[str] = []  # persona-wide headers this reply does not send (e.g. [Server, Date])

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
    when: list[Condition] = []  # every condition must hold (tested only once the path matched)

    def __post_init__(self) -> None:
        super().__post_init__()
        given = [m for m in (self.path, self.prefix, self.regex) if m is not None]
        if len(given) != 1:
            raise ValueError("a route needs exactly one of path, prefix or regex")
        _check_regex(self.regex)


class KeepAlive(_Strict):
    """How the product keeps connections open, as its headers show it."""

    connection: str = "keep-alive"  # the Connection header value it sends ("Keep-Alive" for Apache)
    header: bool = False  # also send "Keep-Alive: timeout=T, max=N" counting down (Apache)
    timeout: int = 5
    max_requests: Annotated[int, msgspec.Meta(ge=1)] = 100  # then it closes, as the product would
    mode: Literal["keep", "close"] = "keep"  # close: "Connection: close" and hang up after every answer


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
    status_line_version: Literal["1.1", "request"] = "1.1"  # request: answer HTTP/1.0 with HTTP/1.0 (Go, Netty)
    shell_host: ShellHost = msgspec.field(default_factory=ShellHost)  # for replies with ``shell:``
    source: str = ""  # the file it was loaded from (set by the loader; body files are relative to it)
