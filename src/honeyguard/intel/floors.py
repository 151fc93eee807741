"""The defense loop's question to take_touched, as data the native fold can read.

An indicator is worth reconciling when the policy acts on its confidence (the floor of its type),
or a decision is in force for it. Asked for every touched indicator of a busy stream (most of
them weak): held as a table of floors and the decided values, the native candidates answer it in C
instead of calling back into Python for each one (measured about half a microsecond an event).
"""

from __future__ import annotations

from collections.abc import Callable


class PolicyFloors:
    """``wanted`` for IndicatorBook.take_touched: True when ``confidence`` reaches the type's floor
    (``floor_of(type)``, asked once per type) or ``value`` is in ``decided[type]``. A higher
    confidence is never refused where a lower one is accepted, as take_touched requires."""

    def __init__(self, floor_of: Callable[[str], int], decided: dict[str, set[str]]) -> None:
        self.floor_of = floor_of
        self.floors: dict[str, int] = {}  # read by the native candidates: exact ints
        self.decided = decided  # type -> values with a decision in force (the decisions' owner keeps it)

    def __call__(self, type_: str, value: str, confidence: int) -> bool:
        floor = self.floors.get(type_)
        if floor is None:
            floor = self.floors[type_] = int(self.floor_of(type_))
        if confidence >= floor:
            return True
        values = self.decided.get(type_)
        return values is not None and value in values
