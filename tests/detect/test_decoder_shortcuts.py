"""The decoders' shortcuts give what the plain versions give, on random input.

decode_repeated stops as soon as nothing is left to decode (the plain loop runs one more round to
see that); the prefilter view undoes JSON escapes and entities in the head and the body apart and
keeps the body's for the body field. Both are checked here against the plain computations.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.detect import raw_http_subject
from honeyguard.detect.httpfields import PATH_AS_SENT, path_differs
from honeyguard.detect.httpsubject import HttpSubject
from honeyguard.detect.normalize import (
    MAX_DECODE_ROUNDS,
    decode_numeric_entities,
    decode_repeated,
    decoded_text,
    fold_overlong_utf8,
    percent_decode_once,
    unescape_json,
)
from tests.detect._support import byte_pieces


def _pieces(*items: bytes) -> st.SearchStrategy[bytes]:
    return byte_pieces(*items, max_size=14)


ESCAPES = _pieces(b"%", b"%2", b"%25", b"%2525", b"%41", b"%u0041", b"%c0%ae", b"\xc0\xae", b"\xe0\x80\xae", b"+", b"a")
JSON_PIECES = (b"\\", b"u", b"0", b"3e", b"\\u003e", b"\\u00e9", b'\\"', b"\\\\", b"\\/", b"x", b"&#60;", b"&#x3c")
BODIES = _pieces(*JSON_PIECES, b"%41", b"+", b"\n", b"\r\n", b"\xc0\xae", b"{", b"}", b"$")
HEADS = _pieces(b"a", b"\\", b"\\u0041", b"&#60;", b'\\"', b":", b" ", b"%41", b"%25", b"%c0%ae", b"\xc0", b"+")


def _decode_repeated_reference(data: bytes, *, plus_is_space: bool = False) -> bytes:
    """decode_repeated as it was: every round run until one changes nothing."""
    if plus_is_space:
        data = data.replace(b"+", b" ")
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = fold_overlong_utf8(percent_decode_once(data))
        if decoded == data:
            break
        data = decoded
    return data


@settings(max_examples=600, deadline=None)
@given(st.one_of(ESCAPES, st.binary(max_size=40)), st.booleans())
def test_repeated_decoding_stops_where_the_plain_loop_stops(data: bytes, plus_is_space: bool) -> None:
    assert decode_repeated(data, plus_is_space=plus_is_space) == _decode_repeated_reference(
        data, plus_is_space=plus_is_space
    )


def _body_field_reference(body: bytes) -> bytes:
    decoded = decode_numeric_entities(unescape_json(decoded_text(body, plus_is_space=True)))
    return body if decoded == body else body + b"\n" + decoded


@settings(max_examples=600, deadline=None)
@given(HEADS, BODIES, st.sampled_from([b"\r\n\r\n", b"\n\n"]))
def test_the_view_and_the_body_field_are_the_whole_request_decoded(head: bytes, body: bytes, blank: bytes) -> None:
    raw = b"POST /a HTTP/1.1" + blank[: len(blank) // 2] + b"X-A: " + head + blank + body
    subject = raw_http_subject(raw)
    assert isinstance(subject, HttpSubject)
    view = subject.prefilter_view(False)
    if view is not None:  # what the view was before the body's decoding was kept apart
        decoded = decode_repeated(raw)
        unescaped = decode_numeric_entities(unescape_json(decoded))
        expected = [raw] + [text for text, before in ((decoded, raw), (unescaped, decoded)) if text != before]
        assert view == b"\n".join(expected)
    assert subject.field("body") == _body_field_reference(body)
    assert raw_http_subject(raw).field("body") == subject.field("body")  # without the view first


PATHS = _pieces(b"/", b".", b"..", b"a", b"%", b"\\", b"\xc0", b"\xc1", b"\xe0", b"\xe1", b"$", b"{", b"${")


@settings(max_examples=600, deadline=None)
@given(PATHS)
def test_the_path_test_is_the_regex(path: bytes) -> None:
    assert path_differs(path) == (PATH_AS_SENT.search(path) is not None or path[:1] == b".")
