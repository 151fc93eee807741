"""Sensor -> JetStream -> collector over a real nats-server: what is published is what is
stored, retries store nothing twice, and a bad batch is dropped with an error, not retried."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest

from honeyguard.config import CollectorLink, DetectSettings, Listener, NatsLink, SensorSettings, Settings
from honeyguard.errors import ConfigError
from honeyguard.model import Event
from honeyguard.sensor.agent import AgentReport, run_agent
from honeyguard.sensor.nats_shipper import NatsShipper
from honeyguard.sensor.spool import Spool
from tests.conftest import free_port
from tests.jetstream.helpers import NatsCollector, NatsProbe, NatsServer, drained, nats_link, wait_for
from tests.server.helpers import EventMaker, get_events, ndjson


class Setup:
    def __init__(self, server: NatsServer, tmp: Path) -> None:
        self.link = nats_link(server, "rt")
        self.collector = NatsCollector(tmp / "collector", self.link).start()
        self.probe = NatsProbe(server.url)
        wait_for(lambda: self.probe.consumer(self.link) is not None, "the collector's consumer")


@pytest.fixture(scope="module")
def setup(nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    made = Setup(nats_server, tmp_path_factory.mktemp("rt"))
    try:
        yield made
    finally:
        made.probe.close()
        made.collector.stop()


def stored(url: str, sensor: str) -> list[Event]:
    events, after = [], None
    while True:
        page = get_events(url, sensor=sensor, after=after, limit=10_000)
        events.extend(msgspec.convert(page["events"], list[Event]))
        if page["next"] is None:
            return events
        after = page["next"]


def ship_all(spool: Spool, link: NatsLink, sensor: str) -> int:
    async def main() -> int:
        async with NatsShipper(spool, link, sensor) as shipper:
            await shipper.drain(60)
            return shipper.shipped
    return asyncio.run(main())


def test_published_events_are_stored_as_sent(setup: Setup, tmp_path: Path) -> None:
    maker = EventMaker("rt-sensor", seed=5)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    sent = [maker.http(start + timedelta(milliseconds=i), target=f"/p{i}") if i % 3 == 0
            else maker.connect(start + timedelta(milliseconds=i)) for i in range(1_200)]
    spool = Spool(tmp_path / "spool.sqlite")
    for event in sent:
        spool.emit(event)
    spool.flush()

    assert ship_all(spool, setup.link, "rt-sensor") == len(sent)
    assert spool.pending() == 0
    wait_for(lambda: drained(setup.probe, setup.link, spool), "the collector to consume every batch")
    spool.close()
    assert stored(setup.collector.url, "rt-sensor") == sent


def test_a_retried_batch_stores_nothing_twice(setup: Setup) -> None:
    maker = EventMaker("retry-sensor", seed=6)
    start = datetime(2026, 9, 2, tzinfo=UTC)
    events = [maker.connect(start + timedelta(milliseconds=i)) for i in range(50)]
    subject = f"{setup.link.subject_prefix}.retry-sensor"
    body = gzip.compress(ndjson(events))
    first = setup.probe.publish(subject, body, msg_id="batch-a")
    again = setup.probe.publish(subject, body, msg_id="batch-a")  # inside the window: JetStream drops it
    later = setup.probe.publish(subject, body, msg_id="batch-b")  # past the window: the collector dedupes
    assert [bool(ack.duplicate) for ack in (first, again, later)] == [False, True, False]
    wait_for(lambda: (info := setup.probe.consumer(setup.link)) is not None and info.num_pending == 0
             and info.num_ack_pending == 0, "both batches to be consumed")
    assert stored(setup.collector.url, "retry-sensor") == events


def test_bad_batches_are_dropped_with_an_error_naming_the_sensor(setup: Setup) -> None:
    prefix = setup.link.subject_prefix
    maker = EventMaker("honest-sensor", seed=7)
    start = datetime(2026, 9, 3, tzinfo=UTC)
    setup.probe.publish(f"{prefix}.garbage-sensor", gzip.compress(b"{not json"))
    setup.probe.publish(f"{prefix}.zip-bomb-sensor", b"\x1f\x8b truncated gzip")
    impostor = [maker.connect(start)]  # events of honest-sensor on another sensor's subject
    setup.probe.publish(f"{prefix}.impostor-sensor", gzip.compress(ndjson(impostor)))
    good = [maker.connect(start + timedelta(seconds=1))]
    setup.probe.publish(f"{prefix}.honest-sensor", gzip.compress(ndjson(good)))

    wait_for(lambda: (info := setup.probe.consumer(setup.link)) is not None and info.num_pending == 0
             and info.num_ack_pending == 0, "every batch to be settled")
    assert stored(setup.collector.url, "honest-sensor") == good
    assert setup.collector.proc is not None and setup.collector.proc.poll() is None
    log = setup.collector.log.read_text()
    for sensor in ("garbage-sensor", "zip-bomb-sensor", "impostor-sensor"):
        assert f"dropped a batch from sensor '{sensor}'" in log
    assert "dropped a batch from sensor 'honest-sensor'" not in log
    assert "claims sensor 'honest-sensor', but was published on the subject of 'impostor-sensor'" in log
    assert setup.probe.stream_messages(setup.link) == 0  # terminated, not left to be redelivered


def test_the_sensor_agent_ships_over_nats_when_configured(setup: Setup, tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(data_dir=str(tmp_path / "agent"), detect=DetectSettings(enabled=False),
                        sensor=SensorSettings(name="agent-sensor", listeners=[Listener(service="http", port=port)],
                                              collector=CollectorLink(url="http://127.0.0.1:9"),  # not used
                                              nats=setup.link))
    ready = threading.Event()
    report: list[AgentReport] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        report.append(loop.run_until_complete(run_agent(settings, stop, on_ready=lambda *_: ready.set())))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(60)
    answer = httpx.get(f"http://127.0.0.1:{port}/nats-probe", timeout=30, trust_env=False)
    assert answer.status_code in (200, 404)
    wait_for(lambda: any(e.kind == "http.request" for e in stored(setup.collector.url, "agent-sensor")),
             "the agent's http.request event to be stored")
    loop.call_soon_threadsafe(stop.set)
    thread.join(60)
    assert report and report[0].pending == 0
    assert report[0].shipping_to is not None and "hg.rt.agent-sensor" in report[0].shipping_to
    requests = [e for e in stored(setup.collector.url, "agent-sensor") if e.kind == "http.request"]
    assert [e.body.target for e in requests] == ["/nats-probe"]  # type: ignore[union-attr]


def test_a_sensor_name_that_cannot_be_a_subject_is_a_config_error(setup: Setup, tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), sensor=SensorSettings(name="eu.west", nats=setup.link))
    with pytest.raises(ConfigError, match="NATS subject token"):
        asyncio.run(run_agent(settings, asyncio.Event()))
