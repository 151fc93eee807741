"""The subject of an HTTP request, with its fields built lazily (docs/rules.md says what each holds).

The engine first scans a cheap *view* of the request (``prefilter_view``: the raw bytes, plus
their decoded forms when they carry escapes) and then asks only for the fields that the rules
still in play read, so an ordinary request never pays for normalising fields no rule needs.
Raw bytes are split only when a field is asked for.
"""

from __future__ import annotations

from operator import itemgetter

from honeyguard.detect.httpfields import (
    LOOKUP,
    PERCENT,
    body_may_decode,
    body_start,
    decoded_view,
    head_folded,
    header_value,
    native_recorded_fields,
    native_target_fields,
    origin_form,
    python_target_fields,
    recorded_first_host,
    recorded_line,
    recorded_parts,
    request_of_head,
    unix_head,
    view_marks,
)
from honeyguard.detect.httpsplit import SplitRequest
from honeyguard.detect.nativesplit import split_http, split_request_line
from honeyguard.detect.normalize import decode_repeated, raw_plus_decoded
from honeyguard.detect.subject import FIELD_LIMITS, Subject, cut
from honeyguard.model import HttpRequest

_TEXT, _LINES, _BODY = FIELD_LIMITS["target"], FIELD_LIMITS["headers"], FIELD_LIMITS["body"]
_REQUEST, _RAW, _METHOD = FIELD_LIMITS["request"], FIELD_LIMITS["raw"], FIELD_LIMITS["method"]
_VIEW_LIMIT = 1 << 20  # longer requests skip the prefilter
#: With escapes, decoding a field cut short can differ from decoding the whole request: requests
#: short enough that no decoded field is cut get a view; longer ones skip the prefilter.
_DECODED_VIEW_LIMIT = FIELD_LIMITS["target"]

_NAME, _VALUE = itemgetter(0), itemgetter(1)  # of a (name, value) header: map() is a C loop
_LINE_FIELDS = frozenset({"method", "target", "url", "path", "query"})
_HEAD_FIELDS = frozenset({"header.*", "headers", "request"})
_NO_VALUES: list[bytes] = []  # shared, never changed: a list less to make for every request
_BUILDERS = ("method", "target", "url", "path", "query", "header.*", "headers", "body", "request", "raw")


class HttpSubject(Subject):
    """An HTTP request: from its parts (the sensor) or from the raw bytes a client sent.

    ``source`` (with ``raw`` and ``body``): a recorded request whose strings are latin-1, ``raw``
    the bytes ``raw_bytes`` would rebuild from its parts and ``body`` its body. The sensor's events
    are labelled this way: most requests match nothing and their parts are never needed, only the
    raw bytes the prefilter scans; and since latin-1 keeps lengths, the request line and the header
    lines are pieces of ``raw`` found by the strings' lengths, so the fields exploits make the
    engine read (the request line's, 'request') and IOC extraction's inputs are cut from ``raw``
    without making a bytes object a header name and value."""

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
        source: HttpRequest | None = None,
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
        self._values: list[bytes] = _NO_VALUES  # (set by _resolved_values before any read)
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
                self._parts = recorded_parts(self._source)
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
            source = self._source
            if source is not None and not self._split_done:  # the line's pieces of raw, by length
                assert self._raw is not None
                if native_recorded_fields is not None and self._recorded_fields(source, self._raw):
                    return self._request
                self._request = recorded_line(self._raw, source)
            elif self._split_done:
                parts = self._split()
                if parts is not None:
                    self._request = (parts.method, parts.target, parts.version)
            else:
                assert self._raw is not None
                self._request = split_request_line(self._raw)
                if self._request is None:  # not HTTP, or a head of one line ending in '\r' (httpsplit
                    parts = self._split()  # reads the head's first line: 'GET /\r\r\n\r\n' is a request)
                    if parts is not None:
                        self._request = (parts.method, parts.target, parts.version)
        return self._request

    def _recorded_fields(self, source: HttpRequest, raw: bytes) -> bool:
        """The request line of a recorded request, its fields and (no body: a piece of raw) its
        'request' field, in one C call: the fields exploits make the engine read (False: not so)."""
        assert native_recorded_fields is not None
        found = native_recorded_fields(raw, source)
        if found is None:  # (a Log4j lookup: the Python resolves it)
            return False
        fields = self._fields
        self._request, fields["method"], fields["target"], fields["path"], fields["query"], url, request = found
        fields["url"] = self._url = url
        if request is not None:
            fields["request"] = request
        return True

    def _body(self) -> bytes:
        """The body as split_http cuts it, without splitting the headers."""
        if self._sent_body is not None:
            return self._sent_body
        if self._parts is not None:
            return self._parts.body
        assert self._raw is not None
        # kept: the view and the body field both need it (finding the head's end is a scan)
        body = self._sent_body = self._raw[body_start(self._raw) :]
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
        marks = view_marks(raw)
        if marks & LOOKUP:  # Log4j lookups rewrite text: no view is exact
            return None
        if check_folds and self.head_folded():
            return None  # folded header lines: a header's value is not on its own line
        if not marks:
            # the common case, no escapes: every field is cut from these bytes (and the body's
            # one decoding left is '+'; the sensor's body, apart from raw, is not assumed in raw)
            self._escape_free = self._source is None
            return raw
        if len(raw) > _DECODED_VIEW_LIMIT:
            return None
        found = self._decoded_view(raw, bool(marks & PERCENT))
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
        """httpfields.decoded_view, the body's decoded form kept for the body field."""
        # (a request ending in a line end most often has no body: not worth finding the head's end)
        found = decoded_view(raw, self._body() if raw[-1:] != b"\n" else b"", percent)
        if found is None:
            return None
        decoded, unescaped, body_unescaped = found
        if body_unescaped is not None:
            self._body_unescaped = body_unescaped  # what raw_plus_decoded makes of the body
        return decoded, unescaped

    def head_folded(self) -> bool:
        return head_folded(self.raw_bytes())

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
        if self._request is None and self._source is not None and not self._split_done:
            # a recorded request's first field: its line cut from raw, with the line's fields and
            # 'request' in the same C call where built (the fields exploits make the engine read)
            self._request_line()
            found = self._fields.get(name)
            if found is not None:
                return found
        if name in _LINE_FIELDS:  # (first: the fields most rules read)
            line = self._request if self._request is not None else self._request_line()  # (a call saved)
            if line is None:
                return self._fields.get(name, b"")
            return self._line_fields(line)[name]
        if self._complete:
            return b""
        if self._header_fields is not None and name[:7] == "header." and name != "header.*":
            return b""  # the headers are split, and every header the request has is in _fields
        value: bytes
        if name == "body":
            if self._request_line() is None:
                return self._fields.get(name, b"")
            body = self._body()[:_BODY]
            unescaped = self._body_unescaped
            if not body:  # (most requests: nothing to decode)
                value = body
            elif unescaped is not None:  # the view decoded it (it holds no '+', nor a lookup decoded)
                value = body if unescaped == body else body + b"\n" + unescaped
            elif self._escape_free:  # no escape, entity or lookup in it: only a '+' decodes
                value = raw_plus_decoded(body) if b"+"[0] in body else body
            else:  # no '+', escape, lookup or entity: decoding changes nothing (the common case)
                value = raw_plus_decoded(body) if body_may_decode(body) else body
        elif name == "raw":
            value = cut("raw", self.raw_bytes())  # the same whether or not the bytes are HTTP
        elif name == "request" and (recorded := self._recorded_request()) is not None:
            value = recorded
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

    def _line_fields(self, line: tuple[bytes, bytes, bytes]) -> dict[str, bytes]:
        """The five fields of the request line, made at once (in one C call where built)."""
        method, target, _version = line
        found = native_target_fields(target) if native_target_fields is not None else None
        path, query, url = found if found is not None else python_target_fields(target)
        fields = self._fields
        fields["method"], fields["target"] = method[:_METHOD], target[:_TEXT]
        fields["path"], fields["query"], fields["url"] = path, query, url
        self._url = url
        return fields

    def _recorded_request(self) -> bytes | None:
        """The 'request' field of a recorded request not yet split, cut from ``raw`` when no header
        value has anything to resolve or decode (_resolved_values' test, on the header lines as
        sent): its header lines are then those of ``raw``, one a line (None: not known so)."""
        source = self._source
        if source is None or self._split_done:
            return None
        if self._request is None:
            self._request_line()
            found = self._fields.get("request")  # (made with the line's fields, in C, where raw gives it)
            if found is not None:
                return found
        line = self._request
        raw, body = self._raw, self._sent_body
        assert line is not None and raw is not None and body is not None
        # raw: 'method target version\r\n', the header lines joined by '\r\n', '\r\n\r\n', body
        head = raw[: len(raw) - len(body)] if body else raw
        # those line ends and no other '\r' or '\n' (none in a name or value), no '%' or '$'
        unix = unix_head(head, (len(source.headers) or 1) + 2)
        if unix is None or len(head) - len(line[0]) - len(line[1]) - len(line[2]) > _TEXT:  # (values' bound)
            return None
        body_field = (self._fields.get("body") or self.field("body")) if body else b""
        url = self._url if self._url is not None else self._decoded_url()
        return request_of_head(unix, line, url, body_field)

    def _build(self, name: str) -> bytes:
        parts = self._parts
        assert parts is not None
        if name == "header.*":
            return b"\n".join(self._resolved_values())[:_LINES]
        if name == "headers":
            self._headers()
            return b"\n".join(map(b": ".join, parts.headers))[:_LINES]
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
            if line is None:
                return b""
            self._line_fields(line)
            assert self._url is not None
        return self._url

    def _decoded_lines(self) -> bytes:
        """The header lines with their values resolved, one a line."""
        assert self._parts is not None
        values = self._resolved_values()
        headers = self._parts.headers
        if values is self._sent_values:  # nothing resolved: the lines as sent (the common case)
            return b"\n".join(map(b": ".join, headers))  # (a C loop: no Python frame a header)
        return b"\n".join(map(b": ".join, zip(map(_NAME, headers), values, strict=True)))

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
                self._values = [header_value(value[:_TEXT]) for value in sent]
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
            start = body_start(raw)
            body = raw[start:]
        if end < 0 or end > start:  # (a request line alone, split or not: no line end at all)
            end = start
        return raw[:end], raw[end:start], body

    @property
    def host(self) -> bytes:
        if self._split() is not None:
            self._headers()
        return self._host

    def first_host(self) -> bytes:
        """``host`` without building the header fields (IOC extraction needs only this): the
        first Host value that is not blank once stripped, as ``_headers`` finds it."""
        if self._source is not None and not self._split_done:
            return recorded_first_host(self._source.headers)
        if self._header_fields is not None or self._split() is None:
            return self._host
        assert self._parts is not None
        for name, value in self._parts.headers:
            if len(name) == 4 and name.lower() == b"host" and (value := value.strip()):
                return value
        return b""

    @property
    def header_values(self) -> tuple[bytes, ...]:
        if self._split() is None:
            return ()
        self._headers()
        return tuple(self._values)

    @property
    def texts(self) -> tuple[bytes, ...]:
        if self._source is not None and not self._split_done:  # (the line is a piece of raw)
            line, body = self._request if self._request is not None else self._request_line(), self._sent_body
            assert line is not None and body is not None
            target = line[1]
        else:
            parts = self._split()
            if parts is None:
                return self._texts
            target, body = parts.target, parts.body
        # '+' is a space in queries and form bodies (wget+http://x/a+-O+y)
        url = self._url if self._url is not None else self._decoded_url()
        query_raw = origin_form(target).partition(b"?")[2]
        ioc_url = url.split(b"?", 1)[0] + b"?" + self.field("query") if query_raw else url
        ioc_body = body[:_BODY]
        if b"+"[0] in ioc_body and b"="[0] in ioc_body:
            ioc_body = decode_repeated(ioc_body, plus_is_space=True)
        return (ioc_url, ioc_body)


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
