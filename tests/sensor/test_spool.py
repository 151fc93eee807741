"""The durable spool: order, durability across a hard kill, the overflow bound, a stalled disk."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from honeyguard.model import decode_event
from honeyguard.sensor.spool import Spool
from tests.server.helpers import EventMaker

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _events(n: int, seed: int = 1) -> list:  # type: ignore[type-arg]
    maker = EventMaker("s1", seed=seed)
    return [maker.connect(T0 + timedelta(milliseconds=i)) for i in range(n)]


def test_batches_come_back_in_id_order_and_ack_forgets(tmp_path: Path) -> None:
    events = _events(250)
    shuffled = events[:]
    random.Random(5).shuffle(shuffled)
    spool = Spool(tmp_path / "spool.sqlite", batch_size=64, flush_interval=0.05)
    for event in shuffled:
        spool.emit(event)
    spool.close()

    spool = Spool(tmp_path / "spool.sqlite")
    assert spool.pending() == 250
    first = spool.next_batch(100)
    assert [item.id for item in first] == [e.id for e in events[:100]]
    assert decode_event(first[0].body) == events[0]
    spool.ack([item.id for item in first])
    assert spool.pending() == 150
    assert [item.id for item in spool.next_batch(1000)] == [e.id for e in events[100:]]
    spool.close()


def test_a_flushed_event_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    script = textwrap.dedent(f"""
        import os, signal
        from datetime import UTC, datetime, timedelta
        from honeyguard.sensor.spool import Spool
        from tests.server.helpers import EventMaker
        maker = EventMaker("s1", seed=9)
        spool = Spool({str(path)!r}, batch_size=100, flush_interval=60)
        for i in range(1000):
            spool.emit(maker.connect(datetime(2026, 6, 1, tzinfo=UTC) + timedelta(milliseconds=i)))
        spool.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2],
                            timeout=120, check=False)
    assert result.returncode == -9
    spool = Spool(path)
    assert spool.pending() == 1000
    assert len({item.id for item in spool.next_batch(5000)}) == 1000
    spool.close()


def test_the_flusher_writes_without_being_asked(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite", batch_size=10, flush_interval=0.05)
    for event in _events(35):
        spool.emit(event)
    reader = Spool(tmp_path / "spool.sqlite")
    _wait_for(lambda: reader.pending() == 35)
    spool.close()
    reader.close()


def test_overflow_past_the_bound_is_counted_and_the_rest_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite", batch_size=10_000, flush_interval=3600, max_buffered=10)
    for event in _events(15):
        spool.emit(event)
    assert spool.dropped == 5
    assert spool.buffered == 10
    spool.close()
    reopened = Spool(tmp_path / "spool.sqlite")
    assert reopened.pending() == 10
    reopened.close()


def test_emit_does_not_wait_for_a_stalled_disk(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite", batch_size=5, flush_interval=0.01)
    with spool._db_lock:  # the disk "stalls": nothing can be written while we hold it
        for event in _events(500):
            spool.emit(event)
        assert spool.buffered == 500
    spool.close()
    assert Spool(tmp_path / "spool.sqlite").pending() == 500


def _wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
