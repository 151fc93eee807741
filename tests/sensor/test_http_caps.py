"""Hostile clients cannot hold the HTTP sensor: slow heads, too many connections."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from honeyguard.config import Limits
from honeyguard.model import RawData
from tests.conftest import tool
from tests.sensor.http_helpers import read_all


def _slowloris(port: int, done: threading.Event) -> None:
    """Sends one header byte a second, forever, until the sensor hangs up."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nX-a: ")
        try:
            while not done.is_set():
                sock.sendall(b"b")
                time.sleep(1)  # the attack's own pace, not synchronisation
        except OSError:
            pass  # cut by the sensor: what this test expects
        done.set()


def test_slowloris_is_cut_while_others_are_served(make_sensor) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    sensor = make_sensor(["http"], limits=Limits(idle_timeout=2.5, session_timeout=4))
    port = sensor.port("http")
    done = threading.Event()
    slow = threading.Thread(target=_slowloris, args=(port, done), daemon=True)
    slow.start()
    sensor.sink.wait_for(lambda evs: any(e.kind == "connect" for e in evs))
    served = subprocess.run([tool("curl"), "-s", "-o", "/dev/null", "-w", "%{http_code}",
                             f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=30)
    assert served.stdout == "200"
    events = sensor.sink.wait_for(
        lambda evs: any(e.kind == "session.closed" and e.body.reason == "session-timeout" for e in evs),
        timeout=30)
    done.set()
    slow.join(30)
    slow_session = next(e.session for e in events if e.kind == "session.closed"
                        and e.body.reason == "session-timeout")  # type: ignore[union-attr]
    partial = [e.body for e in events if e.session == slow_session and isinstance(e.body, RawData)]
    assert len(partial) == 1 and partial[0].data.startswith(b"GET / HTTP/1.1\r\nHost: h\r\nX-a: b")
    assert sensor.sensor.ctx.gate.active == 0


def test_connection_cap_refuses_then_recovers(make_sensor) -> None:  # type: ignore[no-untyped-def]
    sensor = make_sensor(["http"], limits=Limits(max_connections=2))
    port = sensor.port("http")
    held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(2)]
    try:
        sensor.sink.wait_for(lambda evs: sum(e.kind == "connect" for e in evs) == 2)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as extra:
            with contextlib.suppress(OSError):  # it may be reset by the sensor already
                extra.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert read_all(extra) == b""  # closed at once, unanswered
        assert sensor.sensor.ctx.gate.refused == 1
        assert sum(e.kind == "connect" for e in sensor.sink.events()) == 2
    finally:
        held[0].close()
    sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as again:
        again.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert read_all(again).startswith(b"HTTP/1.1 200 OK\r\n")
    held[1].close()
