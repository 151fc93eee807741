"""Raw-socket helpers for the HTTP sensor tests."""

from __future__ import annotations

import re
import socket

from honeyguard.model import Event


def exchange(port: int, data: bytes, *, half_close: bool = True, timeout: float = 30.0) -> bytes:
    """Send ``data``, then read until the sensor closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # broken pipe, reset, or not connected (ENOTCONN) once the sensor hung up
            pass  # the sensor may cut a client that sends too much; what it answered still counts
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def statuses(response: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"^HTTP/1\.1 (\d{3}) ", response, re.M)]


def closed_reason(events: list[Event], session: str) -> str | None:
    for event in events:
        if event.session == session and event.kind == "session.closed":
            return event.body.reason  # type: ignore[union-attr]
    return None


def session_closed(events: list[Event]) -> bool:
    return any(e.kind == "session.closed" for e in events)
