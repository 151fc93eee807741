"""The DuckDB event store: idempotent inserts, filters, paging, reopening."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from honeyguard.model import decode_event, encode_event
from honeyguard.store.events import EventBatch, EventQuery, EventStore, InsertResult
from tests.server.helpers import EventMaker

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def test_insert_is_idempotent_across_and_within_batches(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "e.duckdb")
    maker = EventMaker("s1")
    events = [maker.connect(T0 + timedelta(seconds=i)) for i in range(100)]
    assert store.insert(EventBatch.from_events(events[:60])) == InsertResult(60, 0)
    result = store.insert(EventBatch.from_events(events[40:] + events[90:]))  # overlap, repeats inside
    assert (result.accepted, result.duplicates) == (40, 30)
    assert store.count() == store.count(distinct=True) == 100
    store.close()


def test_stored_json_round_trips_to_the_same_event(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "e.duckdb")
    event = EventMaker("s1").http(T0, target="/cgi-bin/x?a=1")
    store.insert(EventBatch.from_events([event], [encode_event(event)]))
    page = store.query(EventQuery(limit=10))
    assert decode_event(page.raws[0]) == event
    assert page.next is None
    store.close()


def test_columns_hold_the_event_fields(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    store = EventStore(path)
    event = EventMaker("s1").http(T0, target="/x", src_ip="192.0.2.55")
    store.insert(EventBatch.from_events([event]))
    store.close()
    reader = EventStore(path, read_only=True)
    rows = reader._read("SELECT kind, src_ip, dst_port, rules, iocs, body FROM events", [])
    kind, src_ip, dst_port, rules, iocs, body = rows[0]
    assert (kind, src_ip, dst_port, rules) == ("http.request", "192.0.2.55", 8080, ["test-rule"])
    assert iocs == [{"type": "url", "value": "http://evil.example/x", "role": "download"}]
    assert msgspec.json.decode(body)["target"] == "/x"
    reader.close()


def test_filters_and_paging(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "e.duckdb")
    a, b = EventMaker("a", seed=1), EventMaker("b", seed=2)
    events = [a.connect(T0 + timedelta(minutes=i), src_ip="192.0.2.1") for i in range(10)]
    events += [b.http(T0 + timedelta(minutes=i), src_ip="192.0.2.2") for i in range(10)]
    store.insert(EventBatch.from_events(events))

    def ids(**kw: object) -> list[str]:
        return [decode_event(r).id for r in store.query(EventQuery(limit=100, **kw)).raws]  # type: ignore[arg-type]

    assert len(ids(sensor="a")) == 10
    assert len(ids(kind="http.request", src_ip="192.0.2.2")) == 10
    assert ids(src_ip="192.0.2.1", kind="http.request") == []
    assert len(ids(since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=5))) == 4
    pages, after = [], None
    while True:
        page = store.query(EventQuery(limit=7, after=after))
        pages.append(len(page.raws))
        if page.next is None:
            break
        after = page.next
    assert pages == [7, 7, 6]
    store.close()


def test_a_batch_of_other_id_spellings_is_ranged_by_uuid_value(tmp_path: Path) -> None:
    """Ingest refuses them, but a batch built otherwise still finds every stored duplicate."""
    maker = EventMaker("s1")
    events = [maker.connect(T0 + timedelta(seconds=i)) for i in range(3)]
    for event, last in zip(events, "abc", strict=True):
        event.id = f"01900000-0000-7000-8000-00000000000{last}"
    # as text the braced smallest sorts last and the upper-case largest first: a range taken from
    # the text would be empty
    events[0].id, events[2].id = "{" + events[0].id + "}", events[2].id.upper()
    store = EventStore(tmp_path / "e.duckdb")
    assert store.insert(EventBatch.from_events(events)) == InsertResult(3, 0)
    again = store.insert(EventBatch.from_events(events))
    assert (again.accepted, again.duplicates) == (0, 3)
    assert store.count() == 3
    store.close()
