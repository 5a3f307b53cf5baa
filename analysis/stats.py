"""Confidence intervals over trials that hold at the study's small n (3 to 10 trials).

Every quantile comes from ``scipy.stats``; nothing here is hand-written numerics.

- ``t_interval``: mean of the trials with Student's t 95 % interval (a metric's mean over
  trials: the study's "average response time", threshold claims).
- ``log_ratio_interval``: the ratio of two groups of trials (e.g. Paramiko over ssh2-python),
  as the ratio of their geometric means, with Welch's t interval on the difference of the
  log values (unequal variances, Welch-Satterthwaite df). Latencies are positive and skewed;
  on the log scale a trial's spread is close to normal and a ratio is a difference, so the
  t interval holds its level at n = 3 (checked by simulation in tests/analysis/test_stats.py).
  A percentile bootstrap at n = 3 has 10 distinct resamples per group and covers ~75 %;
  scipy's BCa bootstrap is no better there (its acceleration is estimated from the same 3
  values), so the t interval is the one used.
- ``difference_interval``: the difference of two groups' means with Welch's t interval (a
  failure rate that falls from the default to the tuned sshd profile).
- ``max_step_interval``: a trend's largest step ratio between neighbouring levels, with a
  simultaneous interval: each step's log-ratio interval at level 1 - alpha / k (Bonferroni
  over the k steps), so all k hold together with probability >= level, and the largest
  true step then lies in [max of the lows, max of the highs].
- ``wilson_interval``: Wilson score interval of one proportion (scipy.stats.binomtest).
- ``cluster_rate_interval``: a failure rate over trials whose failures come in bursts (sshd's
  MaxStartups refuses a whole run of connections at once): the trial is the cluster. With
  failures observed: Student t over the per-trial rates. With none observed: 0 and, as upper
  bound, the largest of the per-trial Wilson upper bounds (each trial's requests alone), which
  bounds the mean rate at the level whatever the correlation inside a trial is between trials
  (the mean rate is at most the largest trial's rate, and that trial's bound holds at level).

Infinite trial values (a mean latency that met a request never answered) are handled
explicitly: a group all infinite gives an infinite estimate with a degenerate interval at
inf; a group with some infinite trials gives the estimate and no interval (nan).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from analysis.common import isnan

LEVEL = 0.95

Interval = tuple[float, float, float]  # (estimate, low, high)
NO_CI: tuple[float, float] = (math.nan, math.nan)


def _clean(values: Sequence[float]) -> np.ndarray:
    return np.asarray([float(v) for v in values if not isnan(v)], dtype=float)


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile (scipy.stats.t.ppf); a clear error for p or df out of range."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"t_quantile: p={p} must be strictly between 0 and 1")
    if df <= 0:
        raise ValueError(f"t_quantile: df={df} must be positive")
    return float(sps.t.ppf(p, df))


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """(mean, low, high): Student's t interval of the mean; low/high nan for n < 2.

    All values +inf: (inf, inf, inf). Some +inf: (inf, nan, nan) (no interval exists).
    """
    x = _clean(values)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    inf = np.isinf(x)
    if inf.all():
        v = float(x[0]) if (x == x[0]).all() else math.nan
        return v, v, v
    if inf.any():
        return float(x.mean()), *NO_CI
    mean = float(x.mean())
    if len(x) < 2:
        return mean, *NO_CI
    half = t_quantile(0.5 + level / 2.0, len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return mean, mean - half, mean + half


def _welch(a: np.ndarray, b: np.ndarray, level: float) -> tuple[float, float, float]:
    """(mean(a) - mean(b), low, high) by Welch's t; n >= 2 in each group."""
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return diff, diff, diff
    df = (va + vb) ** 2 / (
        (va**2 / (len(a) - 1) if va else 0.0) + (vb**2 / (len(b) - 1) if vb else 0.0)
    )
    half = t_quantile(0.5 + level / 2.0, df) * se
    return diff, diff - half, diff + half


def difference_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """(mean(a) - mean(b), low, high): Welch's t interval; low/high nan if a group has < 2."""
    x, y = _clean(a), _clean(b)
    if len(x) == 0 or len(y) == 0 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        est = float(x.mean() - y.mean()) if len(x) and len(y) else math.nan
        return est, *NO_CI
    if len(x) < 2 or len(y) < 2:
        return float(x.mean() - y.mean()), *NO_CI
    return _welch(x, y, level)


def log_ratio_interval(
    num: Sequence[float], den: Sequence[float], level: float = LEVEL
) -> Interval:
    """(ratio, low, high): geometric mean of num over that of den, Welch t on the logs.

    Values must be positive. Infinite trials: num all inf and den finite -> (inf, inf, inf);
    den all inf and num finite -> (0, 0, 0); otherwise any inf -> estimate, no interval.
    """
    x, y = _clean(num), _clean(den)
    if len(x) == 0 or len(y) == 0:
        return math.nan, *NO_CI
    if (x <= 0).any() or (y <= 0).any():
        return math.nan, *NO_CI
    xi, yi = np.isinf(x), np.isinf(y)
    if xi.any() or yi.any():
        if xi.all() and not yi.any():
            return math.inf, math.inf, math.inf
        if yi.all() and not xi.any():
            return 0.0, 0.0, 0.0
        if xi.any() and not yi.any():
            return math.inf, *NO_CI
        if yi.any() and not xi.any():
            return 0.0, *NO_CI
        return math.nan, *NO_CI
    lx, ly = np.log(x), np.log(y)
    est = float(np.exp(lx.mean() - ly.mean()))
    if len(x) < 2 or len(y) < 2:
        return est, *NO_CI
    _, low, high = _welch(lx, ly, level)
    return est, float(np.exp(low)), float(np.exp(high))


def step_intervals(groups: Sequence[Sequence[float]], level: float = LEVEL) -> list[Interval]:
    """Each neighbouring step's ratio (later over earlier) with its simultaneous (Bonferroni)
    interval: each at level 1 - (1 - level) / steps."""
    steps = len(groups) - 1
    if steps < 1:
        return []
    each = 1.0 - (1.0 - level) / steps
    return [log_ratio_interval(b, a, each) for a, b in itertools.pairwise(groups)]


def max_step_interval(groups: Sequence[Sequence[float]], level: float = LEVEL) -> Interval:
    """(largest step ratio, low, high) between neighbouring groups, simultaneous over the
    steps (Bonferroni); see the module docstring."""
    pairs = step_intervals(groups, level)
    if not pairs or any(isnan(e) for e, _, _ in pairs):
        return math.nan, *NO_CI
    value = max(e for e, _, _ in pairs)
    lows, highs = [lo for _, lo, _ in pairs], [hi for _, _, hi in pairs]
    if any(isnan(v) for v in (*lows, *highs)):
        return value, *NO_CI
    return value, max(lows), max(highs)


def wilson_interval(successes: float, n: float, level: float = LEVEL) -> Interval:
    """(proportion, low, high): Wilson score interval (scipy.stats.binomtest); nan if n == 0."""
    if n <= 0:
        return math.nan, math.nan, math.nan
    k, m = round(successes), round(n)
    ci = sps.binomtest(k, m).proportion_ci(confidence_level=level, method="wilson")
    low, high = float(ci.low), float(ci.high)
    return k / m, (0.0 if k == 0 else low), (1.0 if k == m else high)


def cluster_rate_interval(
    counts: Sequence[float], totals: Sequence[float], level: float = LEVEL
) -> Interval:
    """(mean per-trial rate, low, high) of a rate whose events cluster within trials.

    Trials with a total of 0 are left out. No event in any trial: (0, 0, largest per-trial
    Wilson upper bound). Events: Student t over the per-trial rates, clipped to [0, 1].
    """
    pairs = [(float(c), float(t)) for c, t in zip(counts, totals, strict=True) if t and t > 0]
    if not pairs:
        return math.nan, math.nan, math.nan
    rates = [c / t for c, t in pairs]
    if all(c == 0 for c, _ in pairs):
        return 0.0, 0.0, max(wilson_interval(0, t, level)[2] for _, t in pairs)
    mean, low, high = t_interval(rates, level)
    if isnan(low):
        return mean, low, high
    return mean, max(low, 0.0), min(high, 1.0)


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample standard deviation / mean (nan with fewer than 2 values or a zero mean)."""
    x = _clean(values)
    if len(x) < 2 or x.mean() == 0 or not np.isfinite(x).all():
        return math.nan
    return float(x.std(ddof=1) / x.mean())
