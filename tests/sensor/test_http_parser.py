"""The HTTP parser: tolerant of what attackers send, and indifferent to how TCP splits it."""

from __future__ import annotations

import hashlib
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.sensor.http.parser import Garbage, Item, Request, RequestParser


def parse(chunks: list[bytes], **limits: int) -> list[Item]:
    parser = RequestParser(**limits)
    out: list[Item] = []
    for chunk in chunks:
        parser.feed(chunk)
        while (item := parser.next()) is not None:
            out.append(item)
    last = parser.finish()
    if last is not None:
        out.append(last)
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def comparable(items: list[Item], data: bytes) -> list[object]:
    """Garbage is compared by reason and offset (its captured bytes depend on what had arrived)."""
    out: list[object] = []
    for item in items:
        if isinstance(item, Garbage):
            assert data[item.offset:].startswith(item.data)
            out.append(("garbage", item.reason, item.offset))
        else:
            out.append(item)
    return out


LIMITS = {"max_head": 300, "max_body": 200, "keep_body": 50}

http_ish = st.lists(
    st.sampled_from([b"GET ", b"POST ", b"/", b"a", b" HTTP/1.1", b" HTTP/1.0", b"\r\n", b"\n", b"Host: x",
                     b"Content-Length: 3", b"Content-Length: x", b"Transfer-Encoding: chunked", b"0", b"5",
                     b"abc", b"\x16\x03", b"\x00", b" ", b":", b"Connection: close", b"\t"]),
    max_size=40,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=600), http_ish), st.lists(st.integers(min_value=0), max_size=8))
def test_any_bytes_any_split_same_result(data: bytes, cuts: list[int]) -> None:
    whole = parse([data], **LIMITS)
    pieces = parse(split(data, cuts), **LIMITS)
    bytewise = parse([data[i:i + 1] for i in range(len(data))], **LIMITS)
    assert comparable(pieces, data) == comparable(whole, data) == comparable(bytewise, data)


token = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8)
header_value = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, Request]:
    method = draw(token)
    target = "/" + draw(st.text(alphabet="abc/?=&%.", max_size=20))
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    names = draw(st.lists(st.sampled_from(["X-A", "user-agent", "Accept", "X-Forwarded-For"]), max_size=4))
    headers = [("Host", "h"), *((n, draw(header_value)) for n in names)]
    body = draw(st.binary(max_size=120))
    chunked = draw(st.booleans())
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))
        encoded = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:7], body[7:]) if p) + b"0\r\n\r\n"
    else:
        headers.append(("Content-Length", str(len(body))))
        encoded = body
    head = f"{method} {target} HTTP/1.1{eol}" + "".join(f"{n}: {v}{eol}" for n, v in headers) + eol
    expected = Request(
        method=method, target=target, version="HTTP/1.1", headers=headers, header_size=len(head),
        keep_alive=True, body=body[:50], body_size=len(body),
        body_sha256=hashlib.sha256(body).hexdigest() if body else "", body_truncated=len(body) > 50,
    )
    return head.encode() + encoded, expected


@settings(max_examples=200, deadline=None)
@given(st.lists(requests(), min_size=1, max_size=4), st.lists(st.integers(min_value=0), max_size=6))
def test_pipelined_requests_parse_back(reqs: list[tuple[bytes, Request]], cuts: list[int]) -> None:
    data = b"".join(raw for raw, _ in reqs)
    assert parse(split(data, cuts), **LIMITS) == [expected for _, expected in reqs]


def test_http09_bare_lf_and_absolute_form() -> None:
    items = parse([b"GET /a\n\nGET http://example.com/x?y=1 HTTP/1.1\nHost: example.com\n\n"])
    assert [(i.method, i.target, i.version) for i in items if isinstance(i, Request)] == [
        ("GET", "/a", ""), ("GET", "http://example.com/x?y=1", "HTTP/1.1")]


def test_stray_blank_lines_between_requests_are_ignored() -> None:
    items = parse([b"\r\n\r\nGET / HTTP/1.0\r\n\r\n\r\nGET /b HTTP/1.0\r\n\r\n"])
    assert [i.target for i in items if isinstance(i, Request)] == ["/", "/b"]


def test_tls_clienthello_waits_for_the_whole_record() -> None:
    hello = b"\x16\x03\x01\x00\x08" + b"ABCDEFGH" + b"trailing"
    items = parse([hello[:4], hello[4:9], hello[9:]])
    assert items == [Garbage(reason="tls-clienthello", offset=0, data=hello[:13], size=13,
                             sha256=hashlib.sha256(hello[:13]).hexdigest())]


def test_binary_is_not_http_at_once() -> None:
    (garbage,) = parse([b"\x00\x01\x02"])
    assert isinstance(garbage, Garbage) and garbage.reason == "not-http" and garbage.data == b"\x00\x01\x02"
    parser = RequestParser()
    parser.feed(b"\x03\x00\x00\x13")  # an RDP probe: no newline ever comes
    assert isinstance(parser.next(), Garbage)


def test_garbage_after_a_request_is_located() -> None:
    items = parse([b"GET / HTTP/1.0\r\n\r\n\x05\x01\x00"])
    assert isinstance(items[0], Request)
    assert isinstance(items[1], Garbage)
    assert (items[1].reason, items[1].offset, items[1].data) == ("not-http", 18, b"\x05\x01\x00")


def test_oversized_head() -> None:
    items = parse([b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 400], **LIMITS)
    assert [i.reason for i in items if isinstance(i, Garbage)] == ["oversized-head"]


def test_body_over_the_cap_is_hashed_up_to_it_then_stops() -> None:
    body = bytes(range(256)) * 2
    items = parse([b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 512\r\n\r\n" + body], **LIMITS)
    assert len(items) == 1 and isinstance(items[0], Request)
    assert items[0].problem == "too-large"
    assert items[0].body_size == 200 and items[0].body == body[:50]
    assert items[0].body_sha256 == hashlib.sha256(body[:200]).hexdigest()


def test_invalid_framing_is_a_problem_not_a_crash() -> None:
    items = parse([b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\nGET / HTTP/1.1\r\n\r\n"])
    assert len(items) == 1 and isinstance(items[0], Request) and items[0].problem == "bad-framing"
    items = parse([b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"])
    assert len(items) == 1 and isinstance(items[0], Request) and items[0].problem == "bad-framing"


def test_missing_host_and_header_without_colon() -> None:
    (request,) = parse([b"GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n"])
    assert isinstance(request, Request) and request.problem == "no-host"
    (request,) = parse([b"GET / HTTP/1.0\r\nnonsense\r\n\r\n"])
    assert isinstance(request, Request) and request.problem == "bad-header"
    assert request.headers == [("nonsense", "")]


def test_keep_alive_rules() -> None:
    items = parse([b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                   b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", b"GET / HTTP/1.0\r\n\r\n"])
    assert [i.keep_alive for i in items if isinstance(i, Request)] == [False, True, False]


def test_unfinished_body_is_handed_back_at_the_end() -> None:
    items = parse([b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"])
    assert len(items) == 1 and isinstance(items[0], Request)
    assert not items[0].complete and items[0].body == b"abc" and items[0].body_size == 3
