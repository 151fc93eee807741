"""PostgreSQL specifics: concurrent collectors, time zones, binary and big integers, concurrent migration."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import msgspec
import sqlalchemy as sa

from honeyguard.clock import FakeClock
from honeyguard.store.decisions import DecisionStore, counters, decisions
from honeyguard.store.schema import current_revision, head_revision
from honeyguard.store.state import StateStore, sensors
from tests.export.conftest import NOW, decision
from tests.store.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
WRITERS, BATCHES, PER_BATCH = 4, 15, 3


def _numbers(url: str) -> list[int]:
    store = StateStore(url)
    with store.engine.connect() as conn:
        seqs = [int(s) for s in conn.execute(sa.select(decisions.c.seq)).scalars()]
    store.close()
    return seqs


def _save_batches(url: str, writer: int, start: threading.Barrier | None = None) -> None:
    """One collector: its own engine, saving batches of new decisions."""
    store = DecisionStore(StateStore(url), clock=FakeClock(NOW))
    if start is not None:
        start.wait(60)
    for batch in range(BATCHES):
        store.save([decision(f"10.{writer}.{batch}.{i}") for i in range(PER_BATCH)])
    store.engine.dispose()


def test_concurrent_collectors_take_distinct_change_numbers(state_url: str) -> None:
    StateStore(state_url).close()  # migrated once; the counter row does not exist yet
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            _save_batches(state_url, writer, start)
        except BaseException as exc:
            failures.append(exc)
            start.abort()

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures
    total = WRITERS * BATCHES * PER_BATCH
    assert sorted(_numbers(state_url)) == list(range(1, total + 1))


def test_collector_processes_migrate_and_number_concurrently(postgres: PostgresServer) -> None:
    """Separate processes start on an empty database at once: one migrates, all save, no number twice."""
    url = postgres.new_database()
    script = ("import sys; from tests.store.test_postgres import _save_batches; "
              "_save_batches(sys.argv[1], int(sys.argv[2]))")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    workers = [subprocess.Popen([sys.executable, "-c", script, url, str(w)], cwd=ROOT, env=env,
                                stderr=subprocess.PIPE, text=True) for w in range(3)]
    errors = [w.communicate(timeout=180)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], errors
    assert sorted(_numbers(url)) == list(range(1, 3 * BATCHES * PER_BATCH + 1))
    assert current_revision(sa.create_engine(url)) == head_revision()


def test_times_are_utc_aware_whatever_the_session_zone(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    kolkata = timezone(timedelta(hours=5, minutes=30))
    state = StateStore(url, clock=FakeClock(datetime(2026, 3, 1, 17, 30, tzinfo=kolkata)))
    state.add_sensor("edge-1")
    [record] = state.list_sensors()
    assert record.created_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert record.created_at.tzinfo == UTC
    elsewhere = sa.create_engine(url, connect_args={"options": "-c timezone=America/Los_Angeles"})
    with elsewhere.connect() as conn:
        stored = conn.execute(sa.select(sensors.c.created_at)).scalar_one()
        assert stored == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the same instant, another zone
        assert conn.execute(sa.text("SELECT count(*) FROM sensors WHERE created_at = "
                                    "TIMESTAMPTZ '2026-03-01 12:00:00+00'")).scalar_one() == 1
    elsewhere.dispose()


def test_binary_bodies_big_numbers_and_booleans_round_trip(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    store = DecisionStore(StateStore(url), clock=FakeClock(NOW))
    with store.engine.begin() as conn:
        conn.execute(counters.insert().values(name="decisions", value=2**40))  # past 32 bits
    shown = decision("45.142.120.7", simulated=True)
    store.save([shown])
    rows, top = store.changes_since(2**40)
    assert top == 2**40 + 1 and [r.decision for r in rows] == [shown]
    with store.engine.connect() as conn:
        body, simulated = conn.execute(sa.select(decisions.c.body, decisions.c.simulated)).one()
    assert isinstance(body, bytes) and msgspec.json.decode(body)["value"] == "45.142.120.7"
    assert simulated is True
    assert list(store.active(NOW)) == [shown.indicator_id]
    assert not store.active(NOW + timedelta(days=2))
