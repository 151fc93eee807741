"""HTTPS listeners: plain HTTP sent to them and broken handshakes are answered and recorded."""

from __future__ import annotations

from honeyguard.model import HttpRequest
from tests.sensor.http_helpers import exchange, statuses


def test_plain_http_on_https_port_gets_apaches_answer(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], tls=True)
    response = exchange(sensor.port("http"), b"GET /admin HTTP/1.1\r\nHost: bank.example\r\n\r\n")
    assert statuses(response) == [400]
    assert b"Reason: You're speaking plain HTTP to an SSL-enabled server port.<br />" in response
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    (request,) = [e for e in events if isinstance(e.body, HttpRequest)]
    assert request.protocol == "https" and request.body.target == "/admin"  # type: ignore[union-attr]
    assert not request.body.tls and request.body.status == 400  # type: ignore[union-attr]


def test_broken_handshake_is_cut_and_recorded(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], tls=True)
    garbage_hello = b"\x16\x03\x01\x00\x10" + b"\xff" * 16
    response = exchange(sensor.port("http"), garbage_hello, half_close=False)
    assert response.startswith(b"\x15\x03")  # a TLS alert record, then the close
    events = sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    assert [e.kind for e in events] == ["connect", "session.closed"]
    assert events[-1].body.reason == "server-closed"  # type: ignore[union-attr]
    assert events[-1].body.bytes_in == len(garbage_hello)  # type: ignore[union-attr]
