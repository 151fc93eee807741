from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from honeyguard.clock import SeededEntropy
from honeyguard.model import (
    Connect,
    Event,
    HttpRequest,
    Ioc,
    SshLogin,
    UuidV7Factory,
    decode_event,
    encode_event,
    uuid7_time_ms,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _event(body, kind: str) -> Event:  # type: ignore[no-untyped-def]
    return Event(id="0190", ts=T0, sensor="s1", location="eu", session="0190", kind=kind,
                 src_ip="198.51.100.4", src_port=4444, dst_port=80, protocol="http", body=body)


def test_round_trip_keeps_bytes_header_order_and_labels() -> None:
    body = HttpRequest(method="GET", target="/x", version="HTTP/1.1",
                       headers=[("Host", "a"), ("X-B", "1"), ("accept", "*/*")], body=b"\x00\xff")
    event = _event(body, "http.request")
    event.iocs = [Ioc(type="url", value="http://203.0.113.9/x.sh", role="download")]
    again = decode_event(encode_event(event))
    assert again == event
    assert again.body.headers[2] == ("accept", "*/*")  # type: ignore[union-attr]


def test_kind_must_match_body() -> None:
    with pytest.raises(ValueError, match="does not match"):
        _event(SshLogin(username="root", method="password"), "http.request")


def test_decoding_rejects_a_mismatched_kind_with_a_clear_error() -> None:
    good = encode_event(_event(SshLogin(username="root", method="password"), "ssh.login"))
    bad = good.replace(b'"kind":"ssh.login","src_ip"', b'"kind":"connect","src_ip"')
    with pytest.raises(msgspec.ValidationError, match="does not match"):
        decode_event(bad)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Event(id="1", ts=datetime(2026, 1, 1), sensor="s", location="l", session="1", kind="connect",
              src_ip="1.2.3.4", src_port=1, dst_port=2, protocol="tcp", body=Connect())


def test_uuid7_is_time_ordered_and_carries_the_time() -> None:
    ids = UuidV7Factory(SeededEntropy(1))
    made = [ids.new(T0) for _ in range(5000)] + [ids.new(T0 + timedelta(milliseconds=1))]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert uuid7_time_ms(made[0]) == int(T0.timestamp() * 1000)
    assert made[0][14] == "7"  # the version nibble


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=2, max_size=50))
def test_uuid7_never_goes_backwards_even_when_the_clock_does(offsets: list[int]) -> None:
    ids = UuidV7Factory(SeededEntropy(2))
    made = [ids.new(T0 + timedelta(microseconds=o)) for o in offsets]
    assert made == sorted(made)
