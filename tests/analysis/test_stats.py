"""Confidence-interval helpers against textbook values."""

import math

import numpy as np
import pytest

from analysis.stats import (
    bootstrap_interval,
    coefficient_of_variation,
    t_interval,
    t_quantile,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452), (1000, 1.9623)],
)
def test_t_quantile_matches_tables(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="strictly between"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="positive"):
        t_quantile(0.9, 0)


def test_t_interval_by_hand() -> None:
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    half = 4.302653 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert mean == 2.0
    assert low == pytest.approx(2.0 - half, rel=1e-6)
    assert high == pytest.approx(2.0 + half, rel=1e-6)


def test_t_interval_single_trial_has_no_ci() -> None:
    mean, low, high = t_interval([5.0])
    assert mean == 5.0 and math.isnan(low) and math.isnan(high)


def test_wilson_zero_failures_has_exact_zero_and_an_upper_bound() -> None:
    p, low, high = wilson_interval(0, 1000)
    assert p == 0.0 and low == 0.0
    assert high == pytest.approx(0.003827, rel=1e-3)


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(100, 5, 10), rng.normal(200, 5, 10)
    first = bootstrap_interval([b, a], lambda x, y: x.mean() / y.mean())
    again = bootstrap_interval([b, a], lambda x, y: x.mean() / y.mean())
    assert first == again
    est, low, high = first
    assert low < est < high
    assert low > 1.8 and high < 2.2


def test_coefficient_of_variation() -> None:
    assert coefficient_of_variation([10.0, 10.0]) == 0.0
    assert coefficient_of_variation([1.0, 3.0]) == pytest.approx(math.sqrt(2) / 2)
    assert math.isnan(coefficient_of_variation([4.0]))
