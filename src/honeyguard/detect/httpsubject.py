"""The subject of an HTTP request, with its fields built lazily (docs/rules.md says what each holds).

The engine first scans a cheap *view* of the request (``prefilter_view``: the raw bytes, plus
their decoded forms when they carry escapes) and then asks only for the fields that the rules
still in play read, so an ordinary request never pays for normalising fields no rule needs.
Raw bytes are split only when a field is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from operator import itemgetter

from honeyguard.detect.httpsplit import SplitRequest, head_ends
from honeyguard.detect.nativesplit import split_http, split_request_line
from honeyguard.detect.normalize import (
    decode_numeric_entities,
    decode_repeated,
    decoded_text,
    has_overlong_lead,
    normalize_path,
    raw_plus_decoded,
    resolve_log4j_lookups,
    unescape_json,
)
from honeyguard.detect.subject import FIELD_LIMITS, Subject, cut

#: Membership of a byte is tested with its int (b"%"[0] in data) and of longer bytes with find:
#: 'bytes in bytes' first tries the operand as an int, raising and clearing a TypeError inside
#: CPython 3.11 (about 0.1 us a test, a tenth of the engine's instructions on the bench corpus).
_TEXT, _LINES, _BODY = FIELD_LIMITS["target"], FIELD_LIMITS["headers"], FIELD_LIMITS["body"]
_REQUEST, _RAW, _METHOD = FIELD_LIMITS["request"], FIELD_LIMITS["raw"], FIELD_LIMITS["method"]
#: Whether decoding can change a text is asked with one membership test a byte that starts an
#: escape: each is a memchr (vectorised), where bytes.translate or a regex steps byte by byte
#: (translate over every request was 6% of the engine's instructions).
#: What makes a path differ from its bytes as sent: escapes, '\\', dot and empty segments, lookups
#: (and a leading '.': normalize_path's cases).
_PATH_AS_SENT = re.compile(rb"[%\\\xc0\xc1\xe0]|//|/\.|\$\{")
_FOLD = re.compile(rb"\n[ \t]")  # a folded header line (or a line of the body starting with a blank)
_VIEW_LIMIT = 1 << 20  # longer requests skip the prefilter
#: With escapes, decoding a field cut short can differ from decoding the whole request: requests
#: short enough that no decoded field is cut get a view; longer ones skip the prefilter.
_DECODED_VIEW_LIMIT = FIELD_LIMITS["target"]

_NAME, _VALUE = itemgetter(0), itemgetter(1)  # of a (name, value) header: map() is a C loop
_LINE_FIELDS = frozenset({"method", "target", "url", "path", "query"})
_HEAD_FIELDS = frozenset({"header.*", "headers", "request"})
_BUILDERS = ("method", "target", "url", "path", "query", "header.*", "headers", "body", "request", "raw")


class HttpSubject(Subject):
    """An HTTP request: from its parts (the sensor) or from the raw bytes a client sent.

    ``source`` (with ``raw`` and ``body``): the parts are made by calling it when a field first
    needs them; ``raw`` must then be the bytes ``raw_bytes`` would rebuild from those parts, and
    ``body`` their body. The sensor's events are labelled this way: most requests match nothing
    and their parts are never needed, only the raw bytes the prefilter scans."""

    __slots__ = (
        "_body_unescaped",
        "_complete",
        "_escape_free",
        "_header_fields",
        "_parts",
        "_raw",
        "_request",
        "_sent_body",
        "_sent_values",
        "_source",
        "_split_done",
        "_url",
        "_values",
    )

    def __init__(
        self,
        parts: SplitRequest | None,
        raw: bytes | None,
        source: Callable[[], SplitRequest] | None = None,
        body: bytes | None = None,
    ) -> None:
        # Subject's fields set here, not through its __init__: one per request, the call shows
        self.protocol = "http"
        self._fields: dict[str, bytes] = {}
        self._host = b""
        self._texts: tuple[bytes, ...] = ()
        self._header_values: tuple[bytes, ...] = ()
        self._parts = parts
        self._raw = raw
        self._complete = False
        self._header_fields: dict[str, bytes] | None = None
        self._values: list[bytes] = []
        self._sent_values: list[bytes] | None = None
        self._url: bytes | None = None
        self._body_unescaped: bytes | None = None  # the body's JSON escapes and entities, from the view
        self._escape_free = False  # the view found no escape, entity or lookup in the raw bytes
        self._split_done = parts is not None
        self._source = source
        self._sent_body = body if parts is None else parts.body  # None: not yet cut from the raw bytes
        self._request: tuple[bytes, bytes, bytes] | None = (
            (parts.method, parts.target, parts.version) if parts is not None else None
        )

    # ---- parts ----------------------------------------------------------------------------------

    def _split(self) -> SplitRequest | None:
        """The request's parts, split from the raw bytes the first time they are needed."""
        if not self._split_done:
            self._split_done = True
            if self._source is not None:
                self._parts = self._source()
                return self._parts
            assert self._raw is not None
            self._parts = split_http(self._raw, self._request)
            if self._parts is None:  # not HTTP: only the raw bytes, as raw_subject gives
                raw = cut("raw", self._raw)
                self._fields = {"raw": raw}
                self._texts = (raw,)
                self._complete = True
        return self._parts

    def _request_line(self) -> tuple[bytes, bytes, bytes] | None:
        """(method, target, version): enough for the fields most rules read, without the headers."""
        if self._request is None:
            if self._split_done or self._source is not None:
                parts = self._split()
                if parts is not None:
                    self._request = (parts.method, parts.target, parts.version)
            else:
                assert self._raw is not None
                self._request = split_request_line(self._raw)
                if self._request is None:
                    self._split()  # not HTTP
        return self._request

    def _body(self) -> bytes:
        """The body as split_http cuts it, without splitting the headers."""
        if self._sent_body is not None:
            return self._sent_body
        if self._parts is not None:
            return self._parts.body
        assert self._raw is not None
        # kept: the view and the body field both need it (finding the head's end is a scan)
        body = self._sent_body = self._raw[_body_start(self._raw) :]
        return body

    def raw_bytes(self) -> bytes:
        if self._raw is None:
            parts = self._parts
            assert parts is not None
            lines = b"\r\n".join([name + b": " + value for name, value in parts.headers])
            self._raw = b"%s %s %s\r\n%s\r\n\r\n%s" % (parts.method, parts.target, parts.version, lines, parts.body)
        return self._raw

    def prefilter_view(self, check_folds: bool = True) -> bytes | None:
        raw = self._raw if self._raw is not None else self.raw_bytes()
        if len(raw) > _VIEW_LIMIT:
            return None
        parts = self._parts
        if parts is not None and (b"\n"[0] in parts.target or b"\r"[0] in parts.target):
            return None  # a target the splitter could not have produced
        if b"$"[0] in raw and raw.find(b"${") >= 0:  # Log4j lookups rewrite text: no view is exact
            return None
        if check_folds and self.head_folded():
            return None  # folded header lines: a header's value is not on its own line
        percent = b"%"[0] in raw or has_overlong_lead(raw)
        entity = b"&"[0] in raw and b"#"[0] in raw and raw.find(b"&#") >= 0  # (form bodies are full of '&')
        if not percent and b"\\"[0] not in raw and not entity:
            # the common case, no escapes: every field is cut from these bytes (and the body's
            # one decoding left is '+'; the sensor's body, apart from raw, is not assumed in raw)
            self._escape_free = self._source is None
            return raw
        if len(raw) > _DECODED_VIEW_LIMIT:
            return None
        found = self._decoded_view(raw, percent)
        if found is None:
            return None
        decoded, unescaped = found
        views = [raw]
        if decoded != raw:
            views.append(decoded)
        if unescaped != decoded:
            views.append(unescaped)
        return b"\n".join(views)

    def _decoded_view(self, raw: bytes, percent: bool) -> tuple[bytes, bytes] | None:
        """``raw`` percent-decoded (when ``percent``), then with JSON escapes and entities undone;
        None when decoding makes a Log4j lookup. The head and the body are decoded apart, and the
        body's result kept for the body field: the same work, done once, not twice."""
        # (a request ending in a line end most often has no body: not worth finding the head's end)
        body = self._body() if raw[-1:] != b"\n" else b""
        start = len(raw) - len(body)
        # no escape, overlong form or entity holds a line end, so none spans the head's last '\n'
        # (nor will after a round of decoding): decoding each part apart is decoding the whole
        # (worth it when the body holds escapes: else the body field finds that out cheaply)
        escaped = b"%"[0] in body or b"\\"[0] in body or has_overlong_lead(body)
        if not escaped or b"+"[0] in body or raw[start - 1] != 0x0A or not raw.endswith(body):
            decoded = decode_repeated(raw) if percent else raw
            if b"$"[0] in decoded and decoded.find(b"${") >= 0:
                return None
            return decoded, decode_numeric_entities(unescape_json(decoded))
        head = raw[:start]
        if percent:
            head_decoded, body_decoded = decode_repeated(head), decode_repeated(body)
            decoded = head_decoded + body_decoded
            if b"$"[0] in decoded and decoded.find(b"${") >= 0:
                return None
        else:  # (the caller saw no lookup in raw)
            head_decoded, body_decoded, decoded = head, body, raw
        unescaped = decode_numeric_entities(unescape_json(body_decoded))
        self._body_unescaped = unescaped  # what raw_plus_decoded makes of the body: it holds no '+'
        return decoded, decode_numeric_entities(unescape_json(head_decoded)) + unescaped

    def head_folded(self) -> bool:
        raw = self.raw_bytes()
        fold = _FOLD.search(raw)  # (a regex finds it faster than 'in' does)
        return fold is not None and fold.start() < _head_end(raw)

    # ---- fields ---------------------------------------------------------------------------------

    @property
    def fields(self) -> dict[str, bytes]:
        self._split()
        if not self._complete:
            for name in _BUILDERS:
                self.field(name)
            self._headers()
            self._complete = True
        return self._fields

    def field(self, name: str) -> bytes:
        found = self._fields.get(name)
        if found is not None:
            return found
        if self._complete:
            return b""
        if self._header_fields is not None and name[:7] == "header." and name != "header.*":
            return b""  # the headers are split, and every header the request has is in _fields
        if name in _LINE_FIELDS:
            line = self._request if self._request is not None else self._request_line()  # (a call saved)
            if line is None:
                return self._fields.get(name, b"")
            value = self._decoded_url() if name == "url" else _line_field(name, line)
        elif name == "body":
            if self._request_line() is None:
                return self._fields.get(name, b"")
            body = self._body()[:_BODY]
            unescaped = self._body_unescaped
            if unescaped is not None:  # the view decoded it (it holds no '+', nor a lookup decoded)
                value = body if unescaped == body else body + b"\n" + unescaped
            elif self._escape_free:  # no escape, entity or lookup in it: only a '+' decodes
                value = raw_plus_decoded(body) if b"+"[0] in body else body
            else:  # no '+', escape, lookup or entity: decoding changes nothing (the common case)
                value = raw_plus_decoded(body) if _body_may_decode(body) else body
        elif name == "raw":
            value = cut("raw", self.raw_bytes())  # the same whether or not the bytes are HTTP
        elif name not in _HEAD_FIELDS and not name.startswith("header."):
            return b""  # a field HTTP does not have (command, username...): nothing to split for
        elif self._split() is None:
            return self._fields.get(name, b"")
        elif name.startswith("header.") and name != "header.*":
            return self._headers().get(name, b"")
        else:
            value = self._build(name)
        self._fields[name] = value
        return value

    def _build(self, name: str) -> bytes:
        parts = self._parts
        assert parts is not None
        if name == "header.*":
            return b"\n".join(self._resolved_values())[:_LINES]
        if name == "headers":
            self._headers()
            return b"\n".join([name + b": " + value for name, value in parts.headers])[:_LINES]
        if name == "request":
            request = b"%s %s %s\n%s\n\n%s" % (
                parts.method,
                self._decoded_url(),
                parts.version,
                self._decoded_lines(),
                self.field("body"),
            )
            return request[:_REQUEST]
        if name == "raw":
            return self.raw_bytes()[:_RAW]
        return b""  # a field HTTP does not have (command, username...)

    def _decoded_url(self) -> bytes:
        if self._url is None:
            line = self._request_line()
            self._url = decoded_text(line[1][:_TEXT]) if line is not None else b""
        return self._url

    def _decoded_lines(self) -> bytes:
        """The header lines with their values resolved, one a line."""
        assert self._parts is not None
        values = self._resolved_values()
        headers = self._parts.headers
        if values is self._sent_values:  # nothing resolved: the lines as sent (the common case)
            return b"\n".join([name + b": " + value for name, value in headers])
        return b"\n".join([name + b": " + value for name, value in zip(map(_NAME, headers), values, strict=True)])

    def _resolved_values(self) -> list[bytes]:
        """The header values with Log4j lookups resolved and escapes decoded (_header_value), without
        the header.<name> fields: 'request' and 'header.*' need only these."""
        if self._sent_values is None:
            assert self._parts is not None
            sent = self._sent_values = list(map(_VALUE, self._parts.headers))
            joined = b"\n".join(sent)
            # nothing that makes a value differ from its field: line ends, escapes, Log4j lookups
            if (
                len(joined) <= _TEXT
                and b"\r"[0] not in joined
                and b"%"[0] not in joined
                and b"$"[0] not in joined
                and joined.count(b"\n") == len(sent) - 1
            ):
                self._values = sent  # the common case: nothing in any value to resolve or decode
            else:
                self._values = [_header_value(value[:_TEXT]) for value in sent]
        return self._values

    def _headers(self) -> dict[str, bytes]:
        """One pass over the headers: header.<name> fields and values as resolved."""
        if self._header_fields is not None:
            return self._header_fields
        assert self._parts is not None
        headers = self._parts.headers
        values = self._resolved_values()
        sent = self._sent_values
        assert sent is not None
        # every name lower-cased and decoded in one call, not one call a header
        names = b"\n".join(map(_NAME, headers)).lower().decode("latin-1")
        keys = ("header." + names.replace("\n", "\nheader.")).split("\n") if headers else []
        fields = dict(zip(keys, values, strict=True)) if len(keys) == len(headers) else {}
        if len(fields) == len(headers):  # one value a name, and no name holds a line end
            at = keys.index("header.host") if "header.host" in fields else -1
            host = sent[at].strip() if at >= 0 else b""
        else:
            fields, host = _repeated_headers(headers, values)
        self._host = host
        self._header_fields = fields
        fields.pop("header.*", None)  # a header named '*' does not hide the field of every value
        self._fields.update(fields)
        return fields

    # ---- IOC inputs -----------------------------------------------------------------------------

    def payload_parts(self) -> tuple[bytes, bytes, bytes]:
        """(request line, header lines, body) as sent: where IOC extraction could find anything."""
        raw = self.raw_bytes()
        parts = self._parts
        body = parts.body if parts is not None else self._sent_body
        end = raw.find(b"\n")
        if body is not None:  # rebuilt from the parts: the body is its end, whatever the headers hold
            start = len(raw) - len(body)
        else:
            start = _body_start(raw)
            body = raw[start:]
        if end < 0 or end > start:  # (a request line alone, split or not: no line end at all)
            end = start
        return raw[:end], raw[end:start], body

    @property
    def host(self) -> bytes:
        if self._split() is not None:
            self._headers()
        return self._host

    @property
    def header_values(self) -> tuple[bytes, ...]:
        if self._split() is None:
            return ()
        self._headers()
        return tuple(self._values)

    @property
    def texts(self) -> tuple[bytes, ...]:
        parts = self._split()
        if parts is None:
            return self._texts
        # '+' is a space in queries and form bodies (wget+http://x/a+-O+y)
        url, query_raw = self._decoded_url(), _origin_form(parts.target).partition(b"?")[2]
        ioc_url = url.split(b"?", 1)[0] + b"?" + self.field("query") if query_raw else url
        ioc_body = parts.body[:_BODY]
        if b"+"[0] in ioc_body and b"="[0] in ioc_body:
            ioc_body = decode_repeated(ioc_body, plus_is_space=True)
        return (ioc_url, ioc_body)


def _line_field(name: str, line: tuple[bytes, bytes, bytes]) -> bytes:
    method, target, _version = line
    if name == "method":
        return method[:_METHOD]
    if name == "target":
        return target[:_TEXT]
    if name == "path":
        path_raw = (target if target[:1] == b"/" else _origin_form(target)).partition(b"?")[0]
        if not _path_differs(path_raw):
            return path_raw[:_TEXT]  # nothing to decode, resolve or normalise (the common case)
        return resolve_log4j_lookups(normalize_path(decode_repeated(path_raw)))[:_TEXT]
    query_raw = (target if target[:1] == b"/" else _origin_form(target)).partition(b"?")[2]
    if not query_raw:
        return b""
    if not _query_may_decode(query_raw):
        return query_raw[:_TEXT]  # no '+', escape or lookup: decoding changes nothing
    return decoded_text(query_raw, plus_is_space=True)[:_TEXT]


def _path_differs(path: bytes) -> bool:
    """Whether the path field can differ from ``path`` as sent: _PATH_AS_SENT, or a leading '.'.
    Byte by byte, by memchr: a regex with a class first tries every position (paths are short,
    the tests compare the two)."""
    if b"%"[0] in path or b"\\"[0] in path or path[:1] == b"." or has_overlong_lead(path):
        return True
    return path.find(b"//") >= 0 or path.find(b"/.") >= 0 or (b"$"[0] in path and path.find(b"${") >= 0)


def _query_may_decode(query: bytes) -> bool:
    """Whether decoded_text (with '+' as a space) can change ``query``: '+', an escape or a lookup."""
    return b"+"[0] in query or b"%"[0] in query or b"$"[0] in query or has_overlong_lead(query)


def _body_may_decode(body: bytes) -> bool:
    """Whether raw_plus_decoded can change ``body``: as a query, or JSON escapes and HTML entities."""
    return _query_may_decode(body) or b"\\"[0] in body or b"&"[0] in body


def _body_start(raw: bytes) -> int:
    crlf, lf = head_ends(raw)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 4
    return lf + 2 if lf >= 0 else len(raw)


def _head_end(raw: bytes) -> int:
    """Where the head ends, as httpsplit cuts it (the first blank line)."""
    crlf, lf = head_ends(raw)
    ends = [i for i in (crlf, lf) if i >= 0]
    return min(ends) if ends else len(raw)


def _repeated_headers(headers: list[tuple[bytes, bytes]], values: list[bytes]) -> tuple[dict[str, bytes], bytes]:
    """header.<name> fields when a name comes more than once (its values joined by line ends),
    and the first Host."""
    fields: dict[str, bytes] = {}
    host = b""
    for (name, value), resolved in zip(headers, values, strict=True):
        key = "header." + name.lower().decode("latin-1")
        old = fields.get(key)
        fields[key] = resolved if old is None else cut(key, old + b"\n" + resolved)
        if key == "header.host" and not host:
            host = value.strip()
    return fields, host


def _header_value(value: bytes) -> bytes:
    """A header value with Log4j lookups resolved, plus its percent-decoded form on a second line
    when that differs (cookies and forwarded values arrive URL-encoded)."""
    if b"\n"[0] in value or b"\r"[0] in value:
        value = value.replace(b"\n", b" ").replace(b"\r", b" ")
    value = resolve_log4j_lookups(value)
    if b"%"[0] not in value:
        return value
    decoded = resolve_log4j_lookups(decode_repeated(value)).replace(b"\n", b" ").replace(b"\r", b" ")
    return value if decoded == value else value + b"\n" + decoded


def _origin_form(target: bytes) -> bytes:
    """'http://host/p?q' -> '/p?q' (absolute-form targets, sent to proxies)."""
    if target[:1] == b"/":
        return target
    lowered = target[:8].lower()
    if lowered.startswith((b"http://", b"https://")):
        rest = target.split(b"//", 1)[1]
        slash = rest.find(b"/")
        return rest[slash:] if slash >= 0 else b"/"
    return target
