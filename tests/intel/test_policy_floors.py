"""PolicyFloors, the defense loop's ``wanted``: take_touched keeps exactly the indicators it
accepts, whether the native candidates read its tables in C or the Python loop asks it; odd tables
make the native candidates ask it instead (its decided values follow the decisions in force:
tests/mitigate/test_in_force_book.py)."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.intel import book as book_module
from honeyguard.intel.book import NATIVE_AVAILABLE, IndicatorBook
from honeyguard.intel.floors import PolicyFloors
from tests.intel.steps import hours_after, stepped
from tests.intel.test_fold_native import PARAMS, T0, _touched_entries, events, snapshot

_TYPES = ["ip", "url", "domain", "sha256", "wallet"]
_VALUES = [f"198.51.100.{i}" for i in range(5)] + ["http://203.0.113.9/bins/mips", "203.0.113.9", "pool.example"]

floor_tables = st.dictionaries(st.sampled_from(_TYPES), st.integers(0, 101))
decided_tables = st.dictionaries(st.sampled_from(_TYPES), st.sets(st.sampled_from(_VALUES), max_size=3))


def _floors(floor_of: dict[str, int], decided: dict[str, set[str]], asked: list[str]) -> PolicyFloors:
    """A PolicyFloors whose floors come from ``floor_of`` (types not in it: 50), logging each type
    it was asked the floor of."""

    def floor(type_: str) -> int:
        asked.append(type_)
        return floor_of.get(type_, 50)

    return PolicyFloors(floor, {type_: set(values) for type_, values in decided.items() if values})


def _rule(floor_of: dict[str, int], decided: dict[str, set[str]]) -> Any:
    """The same question as a plain function (the Python loop asks it of every touched entry)."""

    def wanted(type_: str, value: str, confidence: int) -> bool:
        return confidence >= floor_of.get(type_, 50) or value in decided.get(type_, set())

    return wanted


def _taken(book: IndicatorBook, now: datetime, wanted: Any) -> list[tuple[str, int, str, int]]:
    return [(i.id, i.confidence, i.state, i.sightings) for i in book.take_touched(now, wanted)]


@settings(max_examples=150, deadline=None)
@given(
    steps=stepped(events, most_events=40, largest_step=12, most_steps=8),
    now=hours_after(T0),
    floor_of=floor_tables,
    decided=decided_tables,
)
def test_the_floors_keep_what_the_plain_rule_keeps(
    steps: list[list[Any]], now: datetime, floor_of: dict[str, int], decided: dict[str, set[str]]
) -> None:
    assert NATIVE_AVAILABLE or os.environ.get("CI") != "true"
    native, python, plain = IndicatorBook(PARAMS), IndicatorBook(PARAMS, native=False), IndicatorBook(PARAMS)
    asked: list[str] = []
    native_floors, python_floors = _floors(floor_of, decided, asked), _floors(floor_of, decided, [])
    for step in steps:
        for book in (native, python, plain):
            book.observe_events(step)
        expected = _taken(plain, now, _rule(floor_of, decided))
        assert _taken(native, now, native_floors) == expected
        assert _taken(python, now, python_floors) == expected
        assert snapshot(native) == snapshot(python)
    assert len(asked) == len(set(asked))  # each type's floor asked of the policy once


def test_odd_tables_make_the_native_candidates_ask() -> None:
    """A floor that is not an int, or decided values that are not a set: the tables do not tell,
    and the PolicyFloors itself is asked (what it answers is what counts)."""
    native = book_module._native
    if native is None:
        assert os.environ.get("CI") != "true"
        return
    entries = _touched_entries()
    asked: list[tuple[str, str, int]] = []

    def wanted(type_: str, value: str, confidence: int) -> bool:
        asked.append((type_, value, confidence))
        return True

    assert native.candidates(list(entries), 1e12, wanted, {"ip": 101.0}, {}) == entries
    assert native.candidates(list(entries), 1e12, wanted, {"ip": 101}, {"ip": [entries[0].value]}) == entries
    assert len(asked) == 2
    assert native.candidates(list(entries), 1e12, wanted, {"ip": 101}, {"ip": {entries[0].value}}) == entries
    assert native.candidates(list(entries), 1e12, wanted, {"ip": 101}, {}) == []
    assert native.candidates(list(entries), 1e12, wanted, {"ip": 0}, {}) == entries
    assert len(asked) == 2  # the tables told
    with pytest.raises(TypeError):  # tables that are not dicts are refused, not read
        native.candidates(list(entries), 1e12, wanted, [("ip", 0)], {})


def test_a_subclass_that_answers_otherwise_is_asked() -> None:
    """Only PolicyFloors itself is read as tables: a subclass's own __call__ is what counts."""
    asked: list[str] = []

    class Everything(PolicyFloors):
        def __call__(self, type_: str, value: str, confidence: int) -> bool:
            asked.append(value)
            return True

    entries = _touched_entries()
    wanted = Everything(lambda _type: 101, {})
    wanted.floors.update({e.type: 101 for e in entries})  # the tables alone would refuse every one
    taken = IndicatorBook(PARAMS)._candidates(list(entries), 1e12, wanted)
    assert [e.value for e in taken] == [e.value for e in entries]
    assert asked == [e.value for e in entries]
