"""The percentile definition: nearest rank (numpy inverted_cdf), missed and refused slots +inf."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from measure.metrics import PERCENTILES, percentile

times = st.lists(
    st.floats(min_value=0.5, max_value=60000, allow_nan=False), min_size=1, max_size=400
)


@settings(max_examples=200, deadline=None)
@given(times)
def test_nearest_rank_definition(values: list[float]) -> None:
    """p_q is the smallest sample value with at least q % of the sample at or below it."""
    s = np.sort(np.asarray(values))
    for q in PERCENTILES:
        p = percentile(s, q)
        assert p in s
        assert (s <= p).mean() >= q / 100 - 1e-12
        below = s[s < p]
        assert len(below) == 0 or (s <= below.max()).mean() < q / 100


def test_p99_below_threshold_is_the_fraction_statement() -> None:
    """'p99 < 2 s' and 'at least 99 % of requests < 2 s' agree (the claims rely on it)."""
    base = np.full(1000, 100.0)
    for slow in (9, 10, 11):
        s = base.copy()
        s[:slow] = 2500.0
        s.sort()
        assert (percentile(s, 99) < 2000) == ((s < 2000).mean() >= 0.99)


@settings(max_examples=200, deadline=None)
@given(times, st.integers(min_value=0, max_value=50))
def test_missed_slots_are_infinite(values: list[float], missed: int) -> None:
    """With missed slots as +inf, p_q is inf exactly when fewer than q % of slots were
    answered at or below the largest answer: the percentile lands on a missed slot."""
    s = np.sort(np.concatenate([np.asarray(values), np.full(missed, np.inf)]))
    answered = len(values) / len(s)
    for q in PERCENTILES:
        p = percentile(s, q)
        assert (p == np.inf) == (answered < q / 100 - 1e-12)
        if p != np.inf:  # an answered time with at least q % of all slots at or below it
            assert p in values and (s <= p).mean() >= q / 100 - 1e-12


@settings(max_examples=200, deadline=None)
@given(times, st.integers(min_value=0, max_value=50), st.floats(min_value=0.5, max_value=60000))
def test_a_refusal_never_lowers_a_percentile(
    values: list[float], refused: int, fast: float
) -> None:
    """A refused request is a slot not answered (+inf): adding any number of them never
    lowers a percentile, whatever time the refusal itself took (`fast`). Counting it at its
    own time, the old rule, can lower one."""
    base = np.sort(np.asarray(values))
    with_refused = np.sort(np.concatenate([base, np.full(refused, np.inf)]))
    old_rule = np.sort(np.concatenate([base, np.full(refused, fast)]))
    for q in PERCENTILES:
        assert percentile(with_refused, q) >= percentile(base, q)
        assert percentile(with_refused, q) >= percentile(old_rule, q)
