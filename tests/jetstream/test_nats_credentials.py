"""Credentials from settings reach the NATS server; wrong ones keep the events in the spool."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from honeyguard.config import NatsLink
from honeyguard.errors import ShipError
from honeyguard.natsconn import connect, ensure_stream
from honeyguard.sensor.nats_shipper import NatsShipper
from honeyguard.sensor.spool import Spool
from tests.jetstream.helpers import NatsServer, nats_link
from tests.server.helpers import EventMaker

AUTH = {
    "user": (("--user", "hg-sensor", "--pass", "s3cret-pw"), {"user": "hg-sensor", "password": "s3cret-pw"},
             {"user": "hg-sensor", "password": "wrong"}),
    "token": (("--auth", "tok-5a1f9c"), {"token": "tok-5a1f9c"}, {"token": "tok-other"}),
}


@pytest.fixture(params=sorted(AUTH))
def secured(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[NatsServer, dict, dict]]:  # type: ignore[type-arg]
    args, good, bad = AUTH[request.param]
    server = NatsServer(tmp_path / "nats", args=args).start()
    try:
        yield server, good, bad
    finally:
        server.stop()


def spool_of(path: Path, count: int) -> Spool:
    spool = Spool(path)
    maker = EventMaker("cred-sensor", seed=9)
    start = datetime(2026, 9, 4, tzinfo=UTC)
    for i in range(count):
        spool.emit(maker.connect(start + timedelta(milliseconds=i)))
    spool.flush()
    return spool


async def ship_once(spool: Spool, link: NatsLink) -> int:
    async with NatsShipper(spool, link, "cred-sensor") as shipper:
        return await shipper.ship_once()


async def stream_messages(link: NatsLink) -> int:
    nc = await connect(link, "test")
    try:
        js = nc.jetstream()
        await ensure_stream(js, link)
        return int((await js.stream_info(link.stream)).state.messages)
    finally:
        await nc.close()


def test_credentials_from_settings(secured: tuple[NatsServer, dict, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    server, good, bad = secured
    right = nats_link(server, "cred", **good)
    wrong = nats_link(server, "cred", **bad)
    anonymous = nats_link(server, "cred")
    assert asyncio.run(stream_messages(right)) == 0  # the stream exists, empty
    spool = spool_of(tmp_path / "spool.sqlite", 10)

    for refused in (wrong, anonymous):
        with pytest.raises(ShipError, match="nats"):
            asyncio.run(ship_once(spool, refused))
        assert spool.pending() == 10  # kept for later
    assert asyncio.run(ship_once(spool, right)) == 10
    assert spool.pending() == 0
    assert asyncio.run(stream_messages(right)) == 1
    spool.close()
