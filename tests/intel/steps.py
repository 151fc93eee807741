"""Streams of events cut into steps, as the fold tests feed a book, and the moment they read the
book at (shared by test_fold_native and test_fold_equivalence)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from hypothesis import strategies as st

T = TypeVar("T")


def in_steps(stream: list[T], cuts: Sequence[int]) -> Iterator[list[T]]:
    """``stream`` cut into pieces of the sizes in ``cuts``, then the rest (each possibly empty)."""
    start = 0
    for size in [*cuts, len(stream)]:
        yield stream[start : start + size]
        start += size


def stepped(
    events: st.SearchStrategy[T], *, most_events: int, largest_step: int, most_steps: int
) -> st.SearchStrategy[list[list[T]]]:
    """Streams of up to ``most_events`` events, cut into up to ``most_steps`` steps of at most
    ``largest_step`` events, then the rest."""
    return st.builds(
        lambda stream, cuts: list(in_steps(stream, cuts)),
        st.lists(events, max_size=most_events),
        st.lists(st.integers(1, largest_step), max_size=most_steps),
    )


def hours_after(start: datetime, first: int = -24, last: int = 24 * 90) -> st.SearchStrategy[datetime]:
    """``start`` moved by a whole number of hours from ``first`` to ``last`` (before the stream's
    events, among them, or months after)."""
    return st.integers(first, last).map(lambda hours: start + timedelta(hours=hours))
