"""Crashes on the NATS path: kill -9 a collector mid-stream, run two collectors on one stream,
restart the NATS server mid-stream. Each time every event is stored exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from honeyguard.store.events import EventStore
from tests.jetstream.helpers import (
    NatsCollector,
    NatsProbe,
    NatsServer,
    NatsShipperThread,
    drained,
    fill_spool,
    nats_link,
    wait_for,
)

TOTAL = 20_000


def stored_ids(collector: NatsCollector) -> tuple[int, int]:
    """(rows, distinct ids) in a stopped collector's DuckDB file."""
    store = EventStore(collector.data_dir / "events.duckdb", read_only=True)
    try:
        return store.count(), store.count(distinct=True)
    finally:
        store.close()


def test_kill_9_collector_mid_stream_loses_and_duplicates_nothing(nats_server: NatsServer,
                                                                  tmp_path: Path) -> None:
    link = nats_link(nats_server, "crash", batch_size=200, fetch_batch=4, ack_wait=3.0)
    collector = NatsCollector(tmp_path / "collector", link).start()
    probe = NatsProbe(nats_server.url)
    spool = fill_spool(tmp_path / "sensor" / "spool.sqlite", "crash-sensor", TOTAL, seed=31)
    shipper = NatsShipperThread(spool, link, "crash-sensor").start()

    def some_acknowledged() -> bool:
        info = probe.consumer(link)
        return info is not None and info.ack_floor.stream_seq >= 3

    wait_for(some_acknowledged, "a few batches to be stored")
    collector.kill()
    info = probe.consumer(link)
    assert spool.pending() > 0 or info.num_pending + info.num_ack_pending > 0  # killed mid-way

    collector.start()
    wait_for(lambda: drained(probe, link, spool), "every batch to be stored after the restart")
    shipper.stop()
    spool.close()
    probe.close()
    assert collector.stop() == 0
    assert stored_ids(collector) == (TOTAL, TOTAL)


def test_two_collectors_share_the_stream_and_store_each_event_once(nats_server: NatsServer,
                                                                   tmp_path: Path) -> None:
    link = nats_link(nats_server, "pair", batch_size=250, fetch_batch=2, ack_wait=60.0)
    first = NatsCollector(tmp_path / "first", link).start()
    second = NatsCollector(tmp_path / "second", link).start()
    probe = NatsProbe(nats_server.url)
    wait_for(lambda: (info := probe.consumer(link)) is not None and info.num_waiting >= 2,
             "both collectors to be pulling")
    spool = fill_spool(tmp_path / "sensor" / "spool.sqlite", "pair-sensor", TOTAL, seed=32)
    shipper = NatsShipperThread(spool, link, "pair-sensor").start()
    wait_for(lambda: drained(probe, link, spool), "every batch to be stored")
    shipper.stop()
    spool.close()
    probe.close()
    assert first.stop() == 0
    assert second.stop() == 0

    rows_1, distinct_1 = stored_ids(first)
    rows_2, distinct_2 = stored_ids(second)
    assert rows_1 > 0 and rows_2 > 0  # both took a share
    assert (rows_1, rows_2) == (distinct_1, distinct_2)
    assert rows_1 + rows_2 == TOTAL  # and no event went to both
    a = EventStore(first.data_dir / "events.duckdb", read_only=True)
    b = EventStore(second.data_dir / "events.duckdb", read_only=True)
    try:
        ids_a = {row[0] for row in a._read("SELECT id::VARCHAR FROM events", [])}
        ids_b = {row[0] for row in b._read("SELECT id::VARCHAR FROM events", [])}
    finally:
        a.close()
        b.close()
    assert not ids_a & ids_b


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_nats_server_restart_mid_stream_loses_nothing(tmp_path: Path, kill: bool) -> None:
    server = NatsServer(tmp_path / "nats").start()  # its own: this test restarts it
    try:
        link = nats_link(server, "restart", batch_size=200, fetch_batch=4, ack_wait=3.0)
        collector = NatsCollector(tmp_path / "collector", link).start()
        probe = NatsProbe(server.url)
        spool = fill_spool(tmp_path / "sensor" / "spool.sqlite", "restart-sensor", TOTAL, seed=33)
        shipper = NatsShipperThread(spool, link, "restart-sensor").start()
        wait_for(lambda: spool.pending() <= TOTAL - 2_000, "some batches to be published")
        server.stop(kill=kill)
        assert spool.pending() > 0  # stopped mid-way
        server.start()
        wait_for(lambda: drained(probe, link, spool), "every batch to be stored after the restart")
        shipper.stop()
        spool.close()
        probe.close()
        assert collector.stop() == 0
        assert stored_ids(collector) == (TOTAL, TOTAL)
    finally:
        server.stop()
