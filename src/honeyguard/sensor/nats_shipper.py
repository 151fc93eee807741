"""Ship the spool to NATS JetStream: one gzip NDJSON batch per message, acknowledged in the
spool only after JetStream's publish acknowledgement (the batch is then on the server's disk).

Delivery is at least once, as over HTTP: each message carries ``Nats-Msg-Id: <first>..<last>``
so JetStream drops a retried batch inside its duplicate window, and the collector ignores ids
it already stored for anything older. A batch larger than the server's max_payload is split in
halves until each part fits; a single event that can never fit is logged and dropped rather
than left to block the spool. The connection reconnects by itself; a server that cannot be
reached or a stream that does not answer backs off exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import PubAck

from honeyguard.clock import Clock, Entropy, SystemClock, SystemEntropy
from honeyguard.config import NatsLink
from honeyguard.errors import ShipError
from honeyguard.natsconn import batch_msg_id, connect, subject_for
from honeyguard.sensor.shipper import Backoff, Sleep, SpoolShipper, _compress
from honeyguard.sensor.spool import Spool, Spooled

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 20.0  # seconds for JetStream to store a batch and answer
_HEADROOM = 1024  # bytes of max_payload left for headers and protocol


class NatsShipper(SpoolShipper):
    peer = "NATS"
    link: NatsLink

    def __init__(self, spool: Spool, link: NatsLink, sensor: str, *, clock: Clock | None = None,
                 entropy: Entropy | None = None, sleep: Sleep | None = None) -> None:
        self.spool = spool
        self.link = link
        self.subject = subject_for(link, sensor)
        self.clock = clock or SystemClock()
        self.backoff = Backoff(link.max_backoff, entropy or SystemEntropy())
        self._sleep = sleep
        self._nc: Client | None = None
        # set at each disconnect: a publish in flight then will never be answered, so stop waiting
        self._lost = asyncio.Event()
        self.shipped = 0
        self.failures = 0
        self.oversized = 0  # single events too large for any message, dropped and logged
        self.last_success: float | None = None

    async def __aenter__(self) -> NatsShipper:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None

    async def ship_once(self) -> int:
        """Publish the oldest batch; returns how many events JetStream acknowledged (0: empty)."""
        batch = await asyncio.to_thread(self.spool.next_batch, self.link.batch_size)
        if not batch:
            return 0
        nc = await self._connection()
        await self._publish(nc, batch)
        await asyncio.to_thread(self.spool.ack, [item.id for item in batch])
        self.shipped += len(batch)
        self.last_success = self.clock.monotonic()
        return len(batch)

    async def _connection(self) -> Client:
        if self._nc is not None and not self._nc.is_closed:
            return self._nc
        try:
            self._nc = await connect(self.link, f"honeyguard-sensor {self.subject}", self._lost.set)
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            raise ShipError(f"nats {', '.join(self.link.servers)}: {exc.__class__.__name__}: {exc}") from None
        return self._nc

    async def _publish(self, nc: Client, batch: list[Spooled]) -> None:
        body = await asyncio.to_thread(_compress, [item.body for item in batch])
        if len(body) > nc.max_payload - _HEADROOM:
            if len(batch) == 1:  # can never be published: keeping it would block every later event
                self.oversized += 1
                log.error("event %s is %d bytes compressed, over the NATS server's max_payload (%d): "
                          "dropped", batch[0].id, len(body), nc.max_payload)
                return
            half = len(batch) // 2
            await self._publish(nc, batch[:half])
            await self._publish(nc, batch[half:])
            return
        headers = {"Nats-Msg-Id": batch_msg_id(batch[0].id, batch[-1].id)}
        try:
            ack = await self._unless_lost(nc.jetstream().publish(
                self.subject, body, timeout=PUBLISH_TIMEOUT, stream=self.link.stream, headers=headers))
        except nats.js.errors.NoStreamResponseError:
            raise ShipError(f"no JetStream stream answers on {self.subject} "
                            f"(is the collector's stream {self.link.stream} created?)") from None
        except (TimeoutError, nats.errors.Error) as exc:
            raise ShipError(f"publish on {self.subject}: {exc.__class__.__name__}: {exc}") from None
        if ack.duplicate:
            log.debug("batch %s was already in the stream", headers["Nats-Msg-Id"])

    async def _unless_lost(self, request: Coroutine[Any, Any, PubAck]) -> PubAck:
        self._lost.clear()
        publish = asyncio.ensure_future(request)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({publish, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not publish.done():
                publish.cancel()
        if not publish.done() or publish.cancelled():
            raise ShipError(f"connection lost while publishing on {self.subject}")
        return publish.result()

