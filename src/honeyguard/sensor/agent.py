"""The sensor process as `honeyguard sensor run` runs it: listeners -> spool -> shipper.

The spool records every event whether or not a collector is reachable (or configured); the
shipper catches up whenever it can. A stop flushes every event to the spool before returning.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from honeyguard.config import CollectorLink, Settings
from honeyguard.errors import ConfigError
from honeyguard.natsconn import check_subject_token, subject_for
from honeyguard.sensor.nats_shipper import NatsShipper
from honeyguard.sensor.runtime import Labeler
from honeyguard.sensor.sensor import Sensor
from honeyguard.sensor.shipper import Shipper
from honeyguard.sensor.spool import Spool

log = logging.getLogger(__name__)

SPOOL_FILE = "spool.sqlite"
TOKEN_FILE = "sensor.token"  # in data_dir, written by `honeyguard up` and read when no token is set
DRAIN_SECONDS = 3.0  # at stop, how long to try shipping what is left before leaving it spooled


@dataclass
class AgentReport:
    recorded_to: Path
    shipping_to: str | None
    shipped: int = 0
    pending: int = 0
    dropped: int = 0


def load_labeler(settings: Settings) -> Labeler | None:
    """THE single hook point for detection: ``honeyguard.detect.load_labeler(settings.detect)``
    labels each event before it is spooled. Absent (detect not written yet) or disabled: no labels."""
    if not settings.detect.enabled:
        return None
    try:
        detect = importlib.import_module("honeyguard.detect")
    except ImportError:
        return None
    loader = getattr(detect, "load_labeler", None)
    if loader is None:
        log.info("honeyguard.detect has no load_labeler(): events are recorded without labels")
        return None
    labeler: Labeler = loader(settings.detect)
    return labeler


def sensor_token(settings: Settings, link: CollectorLink) -> str | None:
    """The bearer token: ``token``, else ``token_file``, else data_dir/sensor.token if present."""
    if link.token:
        return link.token.strip()
    path = Path(link.token_file) if link.token_file else settings.path(TOKEN_FILE)
    if link.token_file and not path.exists():
        raise ConfigError(f"token file {path} does not exist", key="sensor.collector.token_file")
    if not path.exists():
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read token file {path}: {exc.strerror}",
                          key="sensor.collector.token_file") from None
    return token or None


async def run_agent(settings: Settings, stop: asyncio.Event,
                    on_ready: Callable[[Sensor, AgentReport], None] | None = None) -> AgentReport:
    """Run until ``stop`` is set. Raises ServiceError/ConfigError before anything listens."""
    nats = settings.sensor.nats  # when set, NATS JetStream replaces the HTTP link
    if nats is not None:
        check_subject_token(settings.sensor.name, "sensor.name")
    link = settings.sensor.collector if nats is None else None
    token = sensor_token(settings, link) if link else None
    pace = nats or link
    spool = Spool(settings.path(SPOOL_FILE), batch_size=pace.batch_size if pace else 1000,
                  flush_interval=pace.flush_interval if pace else 0.5)
    shipping_to = link.url if link and token else None
    if nats is not None:
        shipping_to = f"{','.join(nats.servers)} ({subject_for(nats, settings.sensor.name)})"
    report = AgentReport(recorded_to=spool.path, shipping_to=shipping_to)
    try:
        sensor = Sensor(settings.sensor, sink=spool, data_dir=Path(settings.data_dir),
                        labeler=load_labeler(settings))
        await sensor.start()
    except BaseException:
        spool.close()
        raise
    if link and not token:
        log.warning("no sensor token (sensor.collector.token / token_file, or %s): events stay in "
                    "the spool until one is set", settings.path(TOKEN_FILE))
    if on_ready is not None:
        on_ready(sensor, report)
    async with contextlib.AsyncExitStack() as stack:
        shipper: Shipper | NatsShipper | None = None
        ship_task = None
        if nats is not None:
            shipper = await stack.enter_async_context(NatsShipper(spool, nats, settings.sensor.name))
            ship_task = asyncio.create_task(shipper.run(asyncio.Event()), name="shipper")
        elif link and token:
            shipper = await stack.enter_async_context(Shipper(spool, link, token))
            ship_task = asyncio.create_task(shipper.run(asyncio.Event()), name="shipper")
        try:
            await stop.wait()
        finally:
            await sensor.stop()  # every live session records session.closed into the spool
            await asyncio.to_thread(spool.flush)
            if shipper is not None and ship_task is not None:
                # a batch cut off mid-flight is simply sent again later (ingest is idempotent)
                ship_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ship_task
                await shipper.drain(DRAIN_SECONDS)
                report.shipped = shipper.shipped
    await asyncio.to_thread(spool.close)
    report.pending = await asyncio.to_thread(_pending, spool.path)
    report.dropped = spool.dropped
    return report


def _pending(path: Path) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(str(path))) as db:
        return int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
