"""Confidence intervals over trials, with no dependency beyond numpy.

- ``t_interval``: mean of the trials with Student's t 95 % interval (used for a metric's
  mean over trials: the study's "average response time" with CIs, threshold claims).
- ``bootstrap_interval``: percentile bootstrap of any statistic of per-trial values, with a
  fixed seed so reruns print the same numbers (used for ratios and trends).
- ``wilson_interval``: Wilson score interval of a proportion (used for failure rates, where
  zero failures in n requests still has an upper bound).

Student's t quantile comes from the regularized incomplete beta function (continued
fraction, as in Numerical Recipes ``betacf``), inverted by bisection; scipy is not needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from analysis.common import isnan

LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20190801


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(lbeta + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student's t cumulative distribution function."""
    x = df / (df + t * t)
    tail = 0.5 * betainc(df / 2.0, 0.5, x)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile (bisection on t_cdf; ~1e-10 accurate)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"t_quantile: p={p} must be strictly between 0 and 1")
    if df <= 0:
        raise ValueError(f"t_quantile: df={df} must be positive")
    lo, hi = -1e6, 1e6
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2.0


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): Student's t interval of the mean; low/high are nan for n < 2."""
    x = np.asarray([v for v in values if not isnan(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = t_quantile(0.5 + level / 2.0, len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return mean, mean - half, mean + half


def bootstrap_interval(
    groups: Sequence[Sequence[float]],
    statistic: Callable[..., float],
    level: float = LEVEL,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """(estimate, low, high): percentile bootstrap, resampling trials within each group.

    ``statistic(*groups)`` gets one array per group (e.g. the trials at 500 RPS and at
    100 RPS). Low/high are nan when any group has fewer than 2 trials.
    """
    arrays = [np.asarray([v for v in g if not isnan(v)], dtype=float) for g in groups]
    if any(len(a) == 0 for a in arrays):
        return math.nan, math.nan, math.nan
    estimate = float(statistic(*arrays))
    if any(len(a) < 2 for a in arrays):
        return estimate, math.nan, math.nan
    rng = np.random.default_rng(seed)
    stats = np.empty(resamples)
    for i in range(resamples):
        stats[i] = statistic(*(a[rng.integers(0, len(a), len(a))] for a in arrays))
    stats = stats[np.isfinite(stats)]
    if len(stats) == 0:
        return estimate, math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return estimate, float(low), float(high)


def wilson_interval(successes: float, n: float, level: float = LEVEL) -> tuple[float, float, float]:
    """(proportion, low, high): Wilson score interval; nan when n == 0."""
    if n <= 0:
        return math.nan, math.nan, math.nan
    z = _normal_quantile(0.5 + level / 2.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # Rounding leaves ~1e-20 where the bound is exactly 0 (or 1): report it exactly.
    return p, (0.0 if successes == 0 else low), (1.0 if successes == n else high)


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample standard deviation / mean (nan with fewer than 2 values or a zero mean)."""
    x = np.asarray([v for v in values if not isnan(v)], dtype=float)
    if len(x) < 2 or x.mean() == 0:
        return math.nan
    return float(x.std(ddof=1) / x.mean())


def _normal_quantile(p: float) -> float:
    """Standard normal quantile (bisection on erf)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0
