"""Ship the spool to the collector: batches of gzip NDJSON, acknowledged only after a 2xx.

Delivery is at least once: a batch is deleted from the spool only when the collector said it
stored it, and the collector ignores ids it already has. Failures back off exponentially with
jitter up to ``CollectorLink.max_backoff``; a refused token (401) or a refused batch is logged
loudly and retried at the slowest pace, keeping the events, so fixing the token on the
collector is enough to catch up.

Over https the collector is verified against the system's CAs, ``ca_file``, or ``pin_sha256``
(its certificate's fingerprint, see honeyguard.tlsutil); a certificate that does not verify is
refused like a bad token: logged as an error, events kept, retried at the slowest pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import ssl
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from honeyguard.clock import Clock, Entropy, SystemClock, SystemEntropy
from honeyguard.config import CollectorLink
from honeyguard.errors import ShipError
from honeyguard.sensor.spool import Spool
from honeyguard.tlsutil import (
    cert_sha256,
    context_trusting,
    context_with_ca,
    normalise_pin,
    peer_certificate,
    pins_match,
    pretty_fingerprint,
)

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/events"
BASE_BACKOFF = 0.5  # seconds before the first retry
_JITTER_BITS = 32

Sleep = Callable[[float], Awaitable[None]]


class ShipRefused(ShipError):
    """The collector answered, and will keep answering the same (bad token, rejected batch)."""


class TlsRefused(ShipRefused):
    """The collector's certificate does not match the pin or does not verify against ca_file."""


class Backoff:
    """Exponential delays with "equal jitter": half fixed, half random, capped."""

    def __init__(self, cap: float, entropy: Entropy, base: float = BASE_BACKOFF) -> None:
        self.cap = cap
        self.base = base
        self._entropy = entropy

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, 32))
        fraction = self._entropy.randbits(_JITTER_BITS) / float(1 << _JITTER_BITS)
        return ceiling / 2 + fraction * ceiling / 2


class BatchLink(Protocol):
    """What the loop reads from a transport's settings (CollectorLink, NatsLink)."""

    batch_size: int
    flush_interval: float
    max_backoff: float


class SpoolShipper(ABC):
    """The loop every transport shares: ship the spool's oldest batch, back off on failure, wait
    when caught up. A transport supplies ``ship_once`` (and the attributes set in its __init__)."""

    peer = "collector"  # who receives the batches, for the log
    spool: Spool
    link: BatchLink
    backoff: Backoff
    failures: int
    _sleep: Sleep | None

    @abstractmethod
    async def ship_once(self) -> int:
        """Ship the oldest batch; how many events the receiver acknowledged (0: the spool is empty)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Ship until ``stop`` is set; never raises for a collector or server that is down or refusing."""
        attempt = 0
        while not stop.is_set():
            try:
                shipped = await self.ship_once()
            except ShipRefused as exc:
                self.failures += 1
                log.error("%s refused events (kept in the spool, retrying in %.0fs): %s", self.peer,
                          self.link.max_backoff, exc)
                await self._pause(self.link.max_backoff, stop)
                continue
            except ShipError as exc:
                self.failures += 1
                delay = self.backoff.delay(attempt)
                attempt += 1
                log.warning("shipping to %s failed (attempt %d, retry in %.1fs): %s", self.peer, attempt, delay,
                            exc)
                await self._pause(delay, stop)
                continue
            attempt = 0
            if shipped < self.link.batch_size:  # caught up: wait for the spool to fill
                await self._pause(self.link.flush_interval, stop)

    async def drain(self, timeout: float) -> None:
        """Best effort at shutdown: ship what the spool holds for up to ``timeout`` seconds."""
        async def ship_all() -> None:
            while await self.ship_once():
                pass

        try:
            await asyncio.wait_for(ship_all(), timeout)
        except (ShipError, TimeoutError) as exc:
            log.info("left %d events in the spool for next time (%s)", self.spool.pending(), exc)

    async def _pause(self, seconds: float, stop: asyncio.Event) -> None:
        if self._sleep is not None:
            await self._sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


class Shipper(SpoolShipper):
    link: CollectorLink

    def __init__(self, spool: Spool, link: CollectorLink, token: str, *, clock: Clock | None = None,
                 entropy: Entropy | None = None, sleep: Sleep | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        self.spool = spool
        self.link = link
        self.url = link.url.rstrip("/") + EVENTS_PATH
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
        }
        self.clock = clock or SystemClock()
        self.backoff = Backoff(link.max_backoff, entropy or SystemEntropy())
        self._sleep = sleep
        self._client = client
        self._own_client = client is None
        self._entered = False
        self.shipped = 0
        self.failures = 0
        self.last_success: float | None = None  # clock.monotonic() of the last acknowledged batch

    async def __aenter__(self) -> Shipper:
        if _cleartext_beyond_loopback(self.link.url):
            log.warning("shipping to %s over plain http: the token and events cross the network in the clear "
                        "(use https with ca_file or pin_sha256)", self.link.url)
        self._entered = True  # our own client is made at the first batch: a pin needs the network
        return self

    def _verify(self) -> ssl.SSLContext | bool:
        if self.link.ca_file:
            try:
                return context_with_ca(self.link.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise TlsRefused(f"cannot load sensor.collector.ca_file {self.link.ca_file}: {exc}") from None
        return True  # https: the system's trust store; http: unused

    async def _pinned_client(self) -> httpx.AsyncClient:
        """Fetch the collector's certificate, compare it with the pin, then trust exactly it."""
        pin = normalise_pin(self.link.pin_sha256 or "")
        parts = urlsplit(self.link.url)
        host, port = parts.hostname or "", parts.port or 443
        try:
            der = await peer_certificate(host, port, timeout=10.0)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            raise ShipError(f"{self.link.url}: TLS: {exc.__class__.__name__}: {exc}") from None
        seen = cert_sha256(der)
        if not pins_match(seen, pin):
            raise TlsRefused(f"TLS certificate pin mismatch at {self.link.url}: the collector presented sha256 "
                             f"{pretty_fingerprint(seen)}, sensor.collector.pin_sha256 is {pretty_fingerprint(pin)}")
        return _client(context_trusting(der))

    async def __aexit__(self, *exc: object) -> None:
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ship_once(self) -> int:
        """Ship the oldest batch; returns how many events the collector acknowledged (0: empty)."""
        batch = await asyncio.to_thread(self.spool.next_batch, self.link.batch_size)
        if not batch:
            return 0
        body = await asyncio.to_thread(_compress, [item.body for item in batch])
        response = await self._post(body)
        if response.status_code in (400, 401, 403, 413, 415, 422):
            raise ShipRefused(f"{response.status_code} {_reason(response)}")
        if not response.is_success:
            raise ShipError(f"collector answered {response.status_code} {_reason(response)}")
        await asyncio.to_thread(self.spool.ack, [item.id for item in batch])
        self.shipped += len(batch)
        self.last_success = self.clock.monotonic()
        return len(batch)

    async def _post(self, body: bytes) -> httpx.Response:
        if self._client is None:
            if not (self._own_client and self._entered):
                raise RuntimeError("use 'async with Shipper(...)'")
            self._client = await self._pinned_client() if self.link.pin_sha256 else _client(self._verify())
        try:
            return await self._client.post(self.url, content=body, headers=self._headers)
        except httpx.HTTPError as exc:
            if _certificate_refused(exc):
                await self._forget_pinned_client()  # next time: fetch and compare again, naming the new one
                raise TlsRefused(f"TLS verification of the collector at {self.url} failed "
                                 f"({self._trust()}): {exc}") from None
            raise ShipError(f"{self.url}: {exc.__class__.__name__}: {exc}") from None

    async def _forget_pinned_client(self) -> None:
        if self.link.pin_sha256 and self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _trust(self) -> str:
        if self.link.pin_sha256:
            return "sensor.collector.pin_sha256"
        return f"sensor.collector.ca_file {self.link.ca_file}" if self.link.ca_file else "system CAs"



def _client(verify: ssl.SSLContext | bool) -> httpx.AsyncClient:
    # trust_env=False: the sensor talks to its collector only, never through an env proxy
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0), trust_env=False, verify=verify)


def _cleartext_beyond_loopback(url: str) -> bool:
    import ipaddress

    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or (parts.hostname or "").lower() == "localhost":
        return False
    try:
        return not ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return True


def _certificate_refused(exc: BaseException) -> bool:
    """Whether an httpx error was a certificate that did not verify (not a network failure)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _compress(lines: list[bytes]) -> bytes:
    return gzip.compress(b"\n".join(lines), compresslevel=1)


def _reason(response: httpx.Response) -> str:
    return response.text[:200].replace("\n", " ")
