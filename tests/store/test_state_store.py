"""The state store: sensor tokens, hashed at rest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from honeyguard.clock import FakeClock, SeededEntropy
from honeyguard.errors import AuthError, StoreError
from honeyguard.store.state import StateStore, hash_token


def _store(url: str, seed: int = 3) -> StateStore:
    return StateStore(url, clock=FakeClock(), entropy=SeededEntropy(seed))


def test_add_and_verify(state_url: str) -> None:
    store = _store(state_url)
    token = store.add_sensor("edge-1")
    assert store.verify_token(token) == "edge-1"
    assert [s.name for s in store.list_sensors()] == ["edge-1"]
    with pytest.raises(AuthError):
        store.verify_token(token + "x")
    with pytest.raises(AuthError):
        store.verify_token("")


def test_only_the_hash_is_stored(tmp_path: Path) -> None:
    store = _store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    token = store.add_sensor("edge-1")
    store.close()
    raw = (tmp_path / "state.sqlite").read_bytes() + (tmp_path / "state.sqlite-wal").read_bytes() \
        if (tmp_path / "state.sqlite-wal").exists() else (tmp_path / "state.sqlite").read_bytes()
    assert token.encode() not in raw
    assert hash_token(token).encode() in raw


def test_duplicate_name_needs_replace_and_old_token_stops_working(state_url: str) -> None:
    store = _store(state_url)
    old = store.add_sensor("edge-1")
    with pytest.raises(StoreError):
        store.add_sensor("edge-1")
    new = store.add_sensor("edge-1", replace=True)
    assert new != old
    assert store.verify_token(new) == "edge-1"
    with pytest.raises(AuthError):
        store.verify_token(old)


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 200, "a/b"])
def test_invalid_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(StoreError):
        _store(f"sqlite:///{tmp_path / 'state.sqlite'}").add_sensor(name)


def test_shared_between_two_handles(state_url: str) -> None:
    first, second = _store(state_url, 1), _store(state_url, 2)
    token = first.add_sensor("edge-2")
    assert second.verify_token(token) == "edge-2"


def test_created_at_reads_back_utc_aware(state_url: str) -> None:
    store = _store(state_url)
    store.add_sensor("edge-3")
    [record] = store.list_sensors()
    assert record.created_at == FakeClock().now() and record.created_at.utcoffset() == timedelta(0)
