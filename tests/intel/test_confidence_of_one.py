"""The one-source, one-role shortcut of the confidence formula gives exactly the general figure."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from honeyguard.intel.scoring import Accumulator, confidence, confidence_of_one

finite = st.floats(min_value=0.0, max_value=50.0, allow_nan=False)


@settings(max_examples=500, deadline=None)
@given(
    value=finite,
    at=st.floats(min_value=0.0, max_value=1e9),
    age=st.floats(min_value=-1e6, max_value=1e8),
    half_life=st.floats(min_value=1.0, max_value=1e8),
    cap=st.floats(min_value=0.0, max_value=1.0),
    is_feed=st.booleans(),
)
def test_shortcut_equals_the_general_formula(
    value: float, at: float, age: float, half_life: float, cap: float, is_feed: bool
) -> None:
    acc = Accumulator(value=value, at=at)
    general = confidence([(is_feed, {"scanner": acc})], lambda role: half_life, cap, at + age)
    assert confidence_of_one(acc, half_life, 1.0 if is_feed else cap, at + age) == general
