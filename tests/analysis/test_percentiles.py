"""Percentile definitions: ours (nearest rank) and Locust's, checked against Locust's code."""

import ast
import importlib.util
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from measure.metrics import PERCENTILES, locust_bucket, locust_percentile, percentile


def _locusts_own(name: str):
    """A function of locust/stats.py, compiled from Locust's installed source alone: importing
    locust would monkey-patch the whole pytest process with gevent."""
    stats = Path(importlib.util.find_spec("locust").origin).with_name("stats.py")
    tree = ast.parse(stats.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace: dict = {}
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(stats), "exec"), namespace)
    return namespace[name]


calculate_response_time_percentile = _locusts_own("calculate_response_time_percentile")

times = st.lists(
    st.floats(min_value=0.5, max_value=60000, allow_nan=False), min_size=1, max_size=400
)


@settings(max_examples=200, deadline=None)
@given(times)
def test_locust_percentile_is_locusts_own(values: list[float]) -> None:
    """Our reimplementation equals locust.stats' function on Locust's bucketed counts."""
    counts: dict[int, int] = {}
    for v in values:
        counts[locust_bucket(v)] = counts.get(locust_bucket(v), 0) + 1
    for q in PERCENTILES:
        theirs = calculate_response_time_percentile(counts, len(values), q / 100)
        assert locust_percentile(values, q) == theirs


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


@settings(max_examples=200, deadline=None)
@given(times)
def test_ours_and_locusts_differ_by_at_most_one_rank(values: list[float]) -> None:
    s = np.sort(np.asarray(values))
    n = len(s)
    for q in PERCENTILES:
        ours = percentile(s, q)
        after = int(np.searchsorted(s, ours, side="right"))  # just past ours and its ties
        nxt = s[min(after, n - 1)]
        assert locust_bucket(ours) <= locust_percentile(values, q) <= locust_bucket(nxt)


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
