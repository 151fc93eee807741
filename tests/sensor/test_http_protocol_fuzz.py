"""The connection class itself under arbitrary input: it never raises and never logs a failure."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.config import Limits, Listener
from honeyguard.model import UuidV7Factory, encode_event
from honeyguard.sensor.http.connection import HttpConnection
from honeyguard.sensor.personas import BUILTIN_DIR, load_personas
from honeyguard.sensor.runtime import ConnectionGate, SensorIdentity, ServiceContext
from honeyguard.sensor.services.http import build_routers, make_site, router_for
from honeyguard.sensor.sinks import MemorySink

ROUTERS = build_routers(load_personas([BUILTIN_DIR], service="http"))


class FakeTransport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False
        self.fed = 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name in ("peername", "sockname") else default

    def write(self, data: bytes) -> None:
        assert not self.closed, "wrote after closing"
        self.written += data

    def writelines(self, pieces: list[bytes]) -> None:
        for piece in pieces:
            self.write(piece)

    def close(self) -> None:
        self.closed = True

    abort = close

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _run(chunks: list[bytes], persona: str) -> tuple[MemorySink, FakeTransport, ConnectionGate]:
    async def main() -> tuple[MemorySink, FakeTransport, ConnectionGate]:
        sink = MemorySink()
        gate = ConnectionGate(10)
        ctx = ServiceContext(identity=SensorIdentity("s", "l"), clock=FakeClock(), sink=sink, gate=gate,
                             limits=Limits(max_buffer_bytes=512, max_request_bytes=300, keep_body_bytes=64,
                                           max_commands=5),
                             ids=UuidV7Factory(SeededEntropy(1)), data_dir=Path("/nonexistent"))
        listener = Listener(service="http", port=80, persona=persona)
        site = make_site(listener, ctx, router_for(listener, ROUTERS))
        transport = FakeTransport()
        connection = HttpConnection(site)
        connection.connection_made(transport)  # type: ignore[arg-type]
        for chunk in chunks:
            if transport.closed:
                break  # a closed socket delivers nothing more
            transport.fed += len(chunk)
            connection.data_received(chunk)
        connection.connection_lost(None)
        return sink, transport, gate

    return asyncio.run(main())


pieces = st.sampled_from([
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"POST /x HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd",
    b"HEAD /.ht HTTP/1.1\r\nHost: [::1]:9\r\n\r\n", b"GET http://e/ HTTP/1.1\r\nHost: e\r\n\r\n",
    b"PUT / HTTP/1.1\r\nHost: x:y\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"\x16\x03\x01\x00\x02hi", b"\x00\xff", b"\r\n", b"GET /\n\n", b"X-A: b\r\n", b"Content-Length: 999\r\n",
])
streams = st.lists(st.one_of(pieces, st.binary(max_size=64)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(streams, st.sampled_from(["apache-ubuntu", "nginx"]))
def test_any_input_is_recorded_never_raised(chunks: list[bytes], persona: str) -> None:
    logger = logging.getLogger("honeyguard")
    failures: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = failures.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        sink, transport, gate = _run(chunks, persona)
    finally:
        logger.removeHandler(handler)
    assert not failures, [r.getMessage() for r in failures]
    events = sink.events()
    assert events[0].kind == "connect" and events[-1].kind == "session.closed"
    assert sum(e.kind == "session.closed" for e in events) == 1
    assert transport.closed and gate.active == 0
    assert sum(e.kind == "http.request" for e in events) <= 5
    closed = events[-1].body
    assert closed.bytes_out == len(transport.written)  # type: ignore[union-attr]
    assert closed.bytes_in == transport.fed  # type: ignore[union-attr]
    for event in events:
        encode_event(event)  # every event is a valid record


def test_date_header_comes_from_the_injected_clock() -> None:
    _, transport, _ = _run([b"GET / HTTP/1.0\r\n\r\n"], "nginx")
    head = bytes(transport.written).split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert head[:3] == [b"HTTP/1.1 200 OK", b"Server: nginx/1.18.0 (Ubuntu)", b"Date: Thu, 01 Jan 2026 00:00:00 GMT"]
