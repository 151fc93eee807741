"""Consume sensor batches from NATS JetStream, as a second door into the same ingest as HTTP.

Every collector pulls from one durable consumer (``server.nats.durable``), so each batch goes
to one collector (queue-group semantics) and the stream outlives any of them. A batch is
decoded by the same decoder as ``POST /api/v1/events``, checked against the sensor its subject
names, written by the same EventWriter, handed to the defense loop, and acknowledged only after
the DuckDB commit: a collector killed mid-batch gets it redelivered (to itself or another
collector) after ``ack_wait``, and ingest ignores ids it already has.

A batch that can never be stored (not gzip/NDJSON, bad events, events of another sensor) is
terminated with an error naming the sensor, so it is not redelivered forever. A failing write
(the store, not the batch) is negatively acknowledged and comes back later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from honeyguard.clock import SystemEntropy
from honeyguard.config import NatsLink
from honeyguard.natsconn import all_subjects, connect, ensure_stream, sensor_of
from honeyguard.sensor.shipper import Backoff
from honeyguard.server.context import Collector
from honeyguard.server.decode import IngestError, check_ids, decode_events, inflate
from honeyguard.store.events import EventBatch

log = logging.getLogger(__name__)

FETCH_WAIT = 2.0  # seconds a fetch waits for messages before asking again
WRITE_RETRY_DELAY = 5.0  # a failed DuckDB write: redeliver after this long
_GZIP_MAGIC = b"\x1f\x8b"


class NatsIngest:
    def __init__(self, collector: Collector, link: NatsLink) -> None:
        self.collector = collector
        self.link = link
        self.backoff = Backoff(link.max_backoff, SystemEntropy())
        self.batches = 0
        self.refused = 0

    async def run(self) -> None:
        """Consume until cancelled; a NATS server that is down is retried with backoff, never fatal."""
        attempt = 0
        while True:
            try:
                await self._consume()
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: log, back off, reconnect
                delay = self.backoff.delay(attempt)
                attempt += 1
                log.warning("nats ingest (%s): %s: %s; retrying in %.1fs", ", ".join(self.link.servers),
                            exc.__class__.__name__, exc, delay)
                await asyncio.sleep(delay)

    async def _consume(self) -> None:
        nc = await connect(self.link, "honeyguard-collector")
        try:
            js = nc.jetstream()
            await ensure_stream(js, self.link)
            subscription = await js.pull_subscribe(
                all_subjects(self.link), durable=self.link.durable, stream=self.link.stream,
                config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                                      ack_wait=self.link.ack_wait, max_deliver=-1))
            log.info("nats ingest: consuming %s from stream %s as %s", all_subjects(self.link),
                     self.link.stream, self.link.durable)
            await self._fetch_loop(nc, subscription)
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    async def _fetch_loop(self, nc: Client, subscription: object) -> None:
        fetch = subscription.fetch  # type: ignore[attr-defined]
        # A fetch takes what is there at once, but when the stream is empty it waits until it
        # has ``size`` messages or FETCH_WAIT ends: when idle, ask for one so that a lone batch
        # is stored at once; when a full batch came back, ask for the full size again.
        size = 1
        while not nc.is_closed:
            try:
                messages: list[Msg] = await fetch(size, timeout=FETCH_WAIT)
            except nats.errors.TimeoutError:
                size = 1
                continue  # nothing waiting (or a reconnect in progress): ask again
            except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError,
                    nats.errors.StaleConnectionError) as exc:
                log.info("nats ingest: %s; waiting for the connection", exc.__class__.__name__)
                await asyncio.sleep(1.0)
                size = 1
                continue
            size = self.link.fetch_batch if len(messages) >= size else 1
            if self.collector.defense.overloaded:  # indicators are catching up: redelivered later
                await asyncio.gather(*(_settle(m.nak(delay=WRITE_RETRY_DELAY)) for m in messages))
                await asyncio.sleep(WRITE_RETRY_DELAY)
                continue
            # decode of one batch overlaps the DuckDB write of another (two-stage pipeline)
            await asyncio.gather(*(self._handle(message) for message in messages))

    async def _handle(self, message: Msg) -> None:
        sensor = sensor_of(self.link, message.subject)
        if sensor is None:
            await self._refuse(message, None, f"subject {message.subject!r} names no sensor")
            return
        try:
            batch = await self.collector.decoder.run(prepare_batch, message.data, sensor)
        except IngestError as exc:
            await self._refuse(message, sensor, exc.message)
            return
        except Exception as exc:  # a batch no decoder path expected: still the batch's fault
            await self._refuse(message, sensor, f"{exc.__class__.__name__}: {exc}")
            return
        if batch.submitted:
            try:
                result = await self.collector.writer.insert(batch)
            except Exception:
                log.exception("nats ingest: storing a batch of sensor %r failed; redelivered in %.0fs",
                              sensor, WRITE_RETRY_DELAY)
                await _settle(message.nak(delay=WRITE_RETRY_DELAY))
                return
            new = batch.events if result.new_ids is None else [
                e for e in batch.events if e.id in result.new_ids]
            self.collector.defense.observe(list(new))  # only what this batch added
        self.batches += 1
        await _settle(message.ack())  # lost ack: redelivered, and the ids are already stored

    async def _refuse(self, message: Msg, sensor: str | None, reason: str) -> None:
        self.refused += 1
        log.error("nats ingest: dropped a batch from sensor %r (subject %s, %d bytes): %s",
                  sensor, message.subject, len(message.data), reason)
        await _settle(message.term())


def prepare_batch(data: bytes, sensor: str) -> EventBatch:
    """Off the event loop, like HTTP ingest: inflate (gzip or plain), decode, check the sensor."""
    body = inflate(data, "gzip" if data[:2] == _GZIP_MAGIC else None)
    events, raws = decode_events(body)
    for number, event in enumerate(events, start=1):
        if event.sensor != sensor:  # the subject is what NATS permissions tie to a sensor
            raise IngestError(403, f"event {number} ({event.id}) claims sensor {event.sensor!r}, "
                                   f"but was published on the subject of {sensor!r}")
    check_ids(events)
    return EventBatch.from_received(events, raws)


async def _settle(answer: object) -> None:
    """Ack/nak/term go back fire-and-forget: a failure only means the batch comes back."""
    try:
        await answer  # type: ignore[misc]
    except nats.errors.Error as exc:
        log.info("nats ingest: could not answer a message (%s); it will be redelivered", exc)


def start(collector: Collector) -> asyncio.Task[None] | None:
    """The consumer task when ``server.nats`` is set (cancel it to stop), else None."""
    link = collector.settings.server.nats
    if link is None:
        return None
    return asyncio.create_task(NatsIngest(collector, link).run(), name="nats-ingest")
