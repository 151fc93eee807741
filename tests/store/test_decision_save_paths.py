"""The decision store's fast save paths write what SQLAlchemy's own processing would, and a row
the caller wrongly believes stored is still saved."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.store.decisions import DecisionStore, _sqlite_moment
from honeyguard.store.state import StateStore, UTCDateTime
from tests.export.conftest import NOW, decision

SQLITE = sa.create_engine("sqlite://").dialect
REFERENCE = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
OFFSETS = st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.none() | OFFSETS))
def test_a_moment_is_written_as_sqlalchemy_writes_it(moment: datetime) -> None:
    assert REFERENCE is not None
    assert _sqlite_moment(moment) == REFERENCE(moment)


def test_no_moment_is_null() -> None:
    assert _sqlite_moment(None) is None


@pytest.fixture
def store(state_url: str) -> DecisionStore:
    return DecisionStore(StateStore(state_url, clock=FakeClock(NOW)), clock=FakeClock(NOW), entropy=SeededEntropy(1))


def test_fresh_ids_are_inserted_and_the_others_updated(store: DecisionStore) -> None:
    a, b = decision("45.142.120.7"), decision("45.142.120.8")
    store.save([a])
    renewed = msgspec.structs.replace(a, expires_at=NOW + timedelta(days=9))
    store.save_numbered([renewed, b], fresh={b.id})
    assert store.active(NOW) == {a.indicator_id: renewed, b.indicator_id: b}
    rows, top = store.changes_since(1)
    assert [r.decision for r in rows] == [renewed, b] and top == 3
    assert len(store.all()) == 2


def test_a_change_without_a_row_is_inserted(store: DecisionStore) -> None:
    """Not said fresh, yet no row (removed since, or never saved): the UPDATE misses it, the store
    looks it up and inserts it, and updates the one it has."""
    a, b = decision("45.142.120.7"), decision("45.142.120.8")
    store.save([a])
    withdrawn = msgspec.structs.replace(a, withdrawn_at=NOW.astimezone(timezone(timedelta(hours=2))))
    store.save_numbered([withdrawn, b], fresh=set())
    assert store.active(NOW) == {b.indicator_id: b}
    assert [(d.id, d.withdrawn_at) for d in store.all()] == [(a.id, NOW), (b.id, None)]
