"""Confidence intervals: textbook values, and coverage at the study's n = 3 checked by
simulation (seeded, so the test is the same on every run)."""

import math

import numpy as np
import pytest

from analysis.stats import (
    cluster_rate_interval,
    coefficient_of_variation,
    difference_interval,
    log_ratio_interval,
    max_step_interval,
    t_interval,
    t_quantile,
    wilson_interval,
)

DRAWS = 2000


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452), (1000, 1.9623)],
)
def test_t_quantile_matches_tables(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="must be positive"):
        t_quantile(0.9, 0)


def test_t_interval_by_hand() -> None:
    mean, low, high = t_interval([10.0, 12.0, 14.0])
    half = 4.302653 * 2.0 / math.sqrt(3)
    assert mean == 12.0
    assert low == pytest.approx(12.0 - half, rel=1e-5) and high == pytest.approx(12.0 + half)


def test_t_interval_single_trial_has_no_ci() -> None:
    mean, low, high = t_interval([5.0])
    assert mean == 5.0 and math.isnan(low) and math.isnan(high)


def test_infinite_trials() -> None:
    """A mean that met an unanswered request is inf: all inf -> inf; some -> no interval."""
    assert t_interval([math.inf] * 3) == (math.inf, math.inf, math.inf)
    mean, low, high = t_interval([1.0, math.inf, 2.0])
    assert mean == math.inf and math.isnan(low) and math.isnan(high)
    assert log_ratio_interval([math.inf] * 3, [1.0, 2.0, 3.0]) == (math.inf,) * 3
    est, low, _ = log_ratio_interval([math.inf, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert est == math.inf and math.isnan(low)


def test_wilson_zero_failures_has_exact_zero_and_an_upper_bound() -> None:
    p, low, high = wilson_interval(0, 380)
    assert p == 0 and low == 0.0
    assert high == pytest.approx(3.8416 / (380 + 3.8416), rel=1e-4)  # z^2 / (n + z^2)
    p, low, high = wilson_interval(10, 100)
    assert (low, high) == pytest.approx((0.0552, 0.1744), abs=1e-4)  # textbook Wilson


def test_cluster_rate_bound_is_per_trial_not_pooled() -> None:
    """0 failures in 3 trials of 200: pooled Wilson (600) would give 0.63 %; each trial alone
    bounds it at 1.88 %, and that is the bound."""
    rate, low, high = cluster_rate_interval([0, 0, 0], [200, 200, 200])
    assert (rate, low) == (0.0, 0.0)
    assert high == pytest.approx(wilson_interval(0, 200)[2])
    assert high > wilson_interval(0, 600)[2]
    # failures in bursts: the trials' rates vary, the interval is Student t over them
    rate, low, high = cluster_rate_interval([30, 0, 3], [100, 100, 100])
    assert rate == pytest.approx(0.11) and low == 0.0
    assert high == pytest.approx(t_interval([0.3, 0.0, 0.03])[2])


def test_log_ratio_of_equal_groups_brackets_one() -> None:
    est, low, high = log_ratio_interval([100.0, 110.0, 95.0], [101.0, 108.0, 97.0])
    assert low < 1.0 < high and est == pytest.approx(1.0, abs=0.02)


def _coverage(hits: list[bool]) -> float:
    return float(np.mean(hits))


def test_ratio_interval_covers_95_percent_at_three_trials() -> None:
    """Lognormal trials (latency-like), n = 3 per group, true ratio 1.7, spreads unequal."""
    rng = np.random.default_rng(20190801)
    hits = []
    for _ in range(DRAWS):
        num = 1.7 * 80.0 * rng.lognormal(0.0, 0.3, 3)
        den = 80.0 * rng.lognormal(0.0, 0.1, 3)
        _, low, high = log_ratio_interval(num, den)
        hits.append(low <= 1.7 <= high)  # the ratio of geometric means (of medians)
    assert _coverage(hits) >= 0.93


def test_difference_interval_covers_95_percent_at_three_trials() -> None:
    """Failure rates falling from ~27 % (default sshd) to ~0 (tuned), n = 3 each."""
    rng = np.random.default_rng(7)
    hits = []
    for _ in range(DRAWS):
        default = rng.normal(0.27, 0.05, 3)
        tuned = rng.normal(0.01, 0.01, 3)
        _, low, high = difference_interval(default, tuned)
        hits.append(low <= 0.26 <= high)
    assert _coverage(hits) >= 0.93


def test_mean_interval_covers_95_percent_at_three_trials() -> None:
    rng = np.random.default_rng(11)
    hits = []
    for _ in range(DRAWS):
        _, low, high = t_interval(rng.normal(0.9, 0.04, 3))
        hits.append(low <= 0.9 <= high)
    assert _coverage(hits) >= 0.93


def test_trend_max_step_interval_covers_at_three_trials() -> None:
    """Four levels, n = 3 each; the largest true step (x1.5) inside the simultaneous CI."""
    rng = np.random.default_rng(3)
    medians = [40.0, 48.0, 72.0, 90.0]  # steps 1.2, 1.5, 1.25
    hits = []
    for _ in range(DRAWS // 2):
        groups = [m * rng.lognormal(0.0, 0.2, 3) for m in medians]
        _, low, high = max_step_interval(groups)
        hits.append(low <= 1.5 <= high)
    assert _coverage(hits) >= 0.93


def test_old_percentile_bootstrap_would_not_cover() -> None:
    """Why the bootstrap went: the same ratio simulation, percentile bootstrap of 3 trials."""
    rng = np.random.default_rng(20190801)
    hits = []
    for _ in range(300):
        num = 1.7 * 80.0 * rng.lognormal(0.0, 0.3, 3)
        den = 80.0 * rng.lognormal(0.0, 0.1, 3)
        idx = rng.integers(0, 3, (500, 3))
        boot = num[idx].mean(axis=1) / den[rng.integers(0, 3, (500, 3))].mean(axis=1)
        low, high = np.quantile(boot, [0.025, 0.975])
        hits.append(low <= 1.7 * math.exp(0.3**2 / 2) / math.exp(0.1**2 / 2) <= high)
    assert _coverage(hits) < 0.9


def test_coefficient_of_variation() -> None:
    assert coefficient_of_variation([10.0, 10.0, 10.0]) == 0.0
    assert coefficient_of_variation([1.0]) != coefficient_of_variation([1.0])  # nan
    assert coefficient_of_variation([8.0, 12.0]) == pytest.approx(math.sqrt(8) / 10)
