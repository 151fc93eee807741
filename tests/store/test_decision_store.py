"""The decision store: change numbers for the bouncer stream, active decisions, bouncer keys."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.errors import AuthError, StoreError
from honeyguard.store.decisions import DecisionStore
from honeyguard.store.state import StateStore
from tests.export.conftest import NOW, decision


@pytest.fixture
def store(state_url: str) -> DecisionStore:
    state = StateStore(state_url, clock=FakeClock(NOW))
    return DecisionStore(state, clock=FakeClock(NOW), entropy=SeededEntropy(1))


def test_changes_are_numbered_and_streamed_once(store: DecisionStore) -> None:
    a, b = decision("45.142.120.7"), decision("45.142.120.8")
    store.save([a, b])
    rows, top = store.changes_since(0)
    assert [r.decision.value for r in rows] == ["45.142.120.7", "45.142.120.8"] and top == 2
    assert store.changes_since(top) == ([], top)
    store.save([msgspec.structs.replace(a, withdrawn_at=NOW)])
    rows, newer = store.changes_since(top)
    assert [(r.decision.value, r.decision.withdrawn_at) for r in rows] == [("45.142.120.7", NOW)]
    assert newer == 3 and rows[0].num == 1  # the row keeps its integer id
    assert list(store.active(NOW)) == [b.indicator_id]


def test_one_save_updates_the_known_ids_and_inserts_the_others(store: DecisionStore) -> None:
    a, b, c = decision("45.142.120.7"), decision("45.142.120.8"), decision("45.142.120.9")
    store.save([a, b])
    renewed = msgspec.structs.replace(b, expires_at=NOW + timedelta(days=9))
    store.save([c, msgspec.structs.replace(a, withdrawn_at=NOW), renewed])
    rows, top = store.changes_since(2)
    assert [(r.num, r.decision.value) for r in rows] == [(3, c.value), (1, a.value), (2, b.value)] and top == 5
    assert store.active(NOW) == {c.indicator_id: c, b.indicator_id: renewed}
    assert [d.id for d in store.unwithdrawn()] == [c.id, b.id]  # in change order
    store.save([msgspec.structs.replace(c, reason="first"), msgspec.structs.replace(c, reason="second")])
    assert store.for_value(c.value)[0].reason == "second"  # a repeated id: the later one wins


def test_expired_decisions_are_not_active(store: DecisionStore) -> None:
    store.save([decision("45.142.120.7", hours=1)])
    assert store.active(NOW + timedelta(minutes=59))
    assert not store.active(NOW + timedelta(hours=2))
    assert [d.value for d in store.expired_unwithdrawn(NOW + timedelta(hours=2))] == ["45.142.120.7"]


def test_bouncer_keys_are_checked_and_kept_hashed(store: DecisionStore) -> None:
    key = store.add_bouncer("fw-1")
    assert store.bouncer_for_key(key) == ("fw-1", 0)
    store.mark_pulled("fw-1", 7)
    assert store.bouncer_for_key(key) == ("fw-1", 7)
    with pytest.raises(AuthError):
        store.bouncer_for_key("nope")
    with pytest.raises(AuthError):
        store.bouncer_for_key(None)
    with pytest.raises(StoreError, match="already exists"):
        store.add_bouncer("fw-1")
    with pytest.raises(StoreError, match="invalid"):
        store.add_bouncer("bad name!")
    with store.engine.connect() as conn:
        assert key not in str(list(conn.exec_driver_sql("select * from bouncers")))


def test_bouncer_times_read_back_utc_aware(store: DecisionStore) -> None:
    store.add_bouncer("fw-2")
    store.mark_pulled("fw-2", 1)
    assert store.list_bouncers() == [("fw-2", NOW, NOW)]
    assert all(moment.utcoffset() == timedelta(0) for moment in store.list_bouncers()[0][1:])
