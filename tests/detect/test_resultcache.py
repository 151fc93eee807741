"""The labellers' result cache: least recently used out first, within its byte budget, and (as
the sensor runs it) a key stored on its second coming only."""

from __future__ import annotations

from honeyguard.detect.resultcache import MET_ONCE_KEYS, ResultCache


def test_the_least_recently_used_entries_go_first_within_the_budget() -> None:
    cache: ResultCache[str, int] = ResultCache(300, max_entry=190, entry_overhead=10)
    for n, key in enumerate("abc"):
        cache.put(key, n, 90)  # 100 bytes each
    assert cache.used_bytes == 300 and len(cache) == 3
    assert cache.lookup("a") == 0  # now the most recently used
    cache.put("d", 3, 90)
    assert cache.lookup("b") is None and [cache.lookup(k) for k in "acd"] == [0, 2, 3]
    assert cache.used_bytes == 300
    cache.put("e", 4, 190)  # two entries' room: the two least recently used go
    assert list(cache.entries) == ["d", "e"] and cache.used_bytes == 300
    cache.put("big", 5, 191)  # larger than an entry may be: never stored
    assert cache.lookup("big") is None and cache.used_bytes == 300
    cache.put("d", 6, 10)  # already kept: the first value stays
    assert cache.lookup("d") == 3 and cache.used_bytes == 300


def test_without_admission_every_key_is_admitted() -> None:
    cache: ResultCache[str, int] = ResultCache(1000, max_entry=100, entry_overhead=0)
    assert cache.admits("a") and cache.admits("a")


def test_with_admission_a_key_is_admitted_on_its_second_coming() -> None:
    cache: ResultCache[tuple[str, int], str] = ResultCache(
        10_000, max_entry=100, entry_overhead=0, admit_on_second=True
    )
    keys = [("k", n) for n in range(10)]
    assert not any(cache.admits(key) for key in keys)
    assert all(cache.admits(key) for key in keys)
    for key in keys:
        cache.put(key, "v", 10)
    assert len(cache) == 10 and cache.used_bytes == 100


def test_the_keys_met_once_are_bounded() -> None:
    cache: ResultCache[int, str] = ResultCache(10_000, max_entry=100, entry_overhead=0, admit_on_second=True)
    for n in range(MET_ONCE_KEYS + 10):
        cache.admits(n)
    assert len(cache._met_once or ()) <= MET_ONCE_KEYS
    assert not cache.admits(0)  # forgotten when the set was cleared: met once again
