"""A batch stored from the JSON text it arrived as (DuckDB lays out the columns) holds exactly what
the decoded events hold; text DuckDB would read otherwise falls back to columns built in Python."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from honeyguard.model import Event, encode_event
from honeyguard.server.decode import decode_events
from honeyguard.store.events import EventBatch, EventStore, InsertResult
from tests.server.helpers import EventMaker

T0 = datetime(2026, 5, 1, tzinfo=UTC)
COLUMNS = (
    "id, ts, sensor, location, session, kind, src_ip, src_port, dst_ip, dst_port, protocol, persona, "
    "body, rules, cves, techniques, iocs, raw"
)


def _rows(store: EventStore) -> list[tuple]:  # type: ignore[type-arg]
    return store._read(f"SELECT {COLUMNS} FROM events ORDER BY id", [])


def _store_received(path: Path, lines: list[bytes]) -> tuple[EventStore, list[Event], InsertResult]:
    events, raws = decode_events(b"\n".join(lines))
    batch = EventBatch.from_received(events, raws)
    assert batch.received
    store = EventStore(path)
    return store, events, store.insert(batch)


def _store_laid_out(path: Path, events: list[Event], lines: list[bytes]) -> EventStore:
    store = EventStore(path)
    store.insert(EventBatch.from_events(events, lines))
    return store


def test_columns_from_the_text_equal_columns_from_the_events(tmp_path: Path) -> None:
    maker = EventMaker("s1")
    events = [maker.http(T0 + timedelta(seconds=i), target=f"/x?q={i}&é=\\u00e9\n") for i in range(20)]
    events += [maker.connect(T0 + timedelta(seconds=30 + i)) for i in range(20)]
    lines = [encode_event(e) for e in events]
    received, decoded, result = _store_received(tmp_path / "a.duckdb", lines)
    assert result == InsertResult(40, 0)
    laid_out = _store_laid_out(tmp_path / "b.duckdb", decoded, lines)
    assert _rows(received) == _rows(laid_out)
    assert len(_rows(received)) == 40
    received.close()
    laid_out.close()


def test_text_duckdb_reads_otherwise_is_stored_as_msgspec_decoded_it(tmp_path: Path) -> None:
    """A repeated key (msgspec keeps the last, DuckDB the first), nanoseconds (msgspec rounds,
    DuckDB truncates) and an omitted default: each batch still stores what the Events say."""
    maker = EventMaker("s1")
    first, second, third = (maker.connect(T0 + timedelta(seconds=i)) for i in range(3))
    repeated = encode_event(first).replace(b'"sensor":"s1"', b'"sensor":"s2","sensor":"s1"')
    nanos = encode_event(second).replace(b':01Z"', b':01.000000999Z"')
    omitted = encode_event(third).replace(b'"persona":"",', b"")
    assert repeated != encode_event(first) and nanos != encode_event(second) and omitted != encode_event(third)
    for number, line in enumerate((repeated, nanos, omitted)):
        received, decoded, result = _store_received(tmp_path / f"r{number}.duckdb", [line])
        assert result == InsertResult(1, 0)
        laid_out = _store_laid_out(tmp_path / f"l{number}.duckdb", decoded, [line])
        assert _rows(received) == _rows(laid_out)
        assert _rows(received)[0][2] == "s1"
        received.close()
        laid_out.close()


def test_received_batches_are_idempotent(tmp_path: Path) -> None:
    maker = EventMaker("s1")
    events = [maker.connect(T0 + timedelta(seconds=i)) for i in range(10)]
    lines = [encode_event(e) for e in events]
    store, _, first = _store_received(tmp_path / "e.duckdb", lines[:6])
    again = EventBatch.from_received(*decode_events(b"\n".join(lines[3:] + lines[:1])))
    second = store.insert(again)
    assert first == InsertResult(6, 0)
    assert (second.accepted, second.duplicates) == (4, 4)
    assert second.new_ids == frozenset(e.id for e in events[6:])
    assert store.count() == store.count(distinct=True) == 10
    store.close()
