"""Verdicts on the study's claims (paper/claims.yaml) from a sweep's tidy table.

The rules are written at the head of paper/claims.yaml (and in VERDICT_RULES, which the
report prints beside each verdict); this module implements them. A verdict says what the
evidence supports, never more: six states, from "holds" to "not measured".
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.claims_spec import POSITIONAL, Claim, load_claims, load_study
from analysis.common import NOT_MEASURED, fmt_level, fmt_levels, isnan, order, same
from analysis.select import (
    REPETITION_PARAMS,
    environment_limited,
    integrity_ok,
    match,
    param_columns,
    select,
)
from analysis.stats import (
    cluster_rate_interval,
    difference_interval,
    log_ratio_interval,
    max_step_interval,
    step_intervals,
    t_interval,
)
from measure import saturation

__all__ = ["Claim", "evaluate", "evaluate_claim", "load_claims", "load_study", "overall"]

HOLDS = "holds"
FAILS = "does not hold"
INCONCLUSIVE = "inconclusive"
NOT_TESTABLE = "not testable here"
PARTIAL = "partially measured"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_TESTABLE, PARTIAL, NOT_MEASURED)

# Fewest trials per configuration for a verdict either way.
MIN_TRIALS = 3

# Failure classes of the system under test (point.json error_class): they count against
# the claim (the harness's own failures are not evidence about the system under test).
SUT_CLASSES = ("api_down", "sshd_died")

# One line per state: what it takes (shown beside each verdict in the report).
VERDICT_RULES = {
    HOLDS: f"at least {MIN_TRIALS} trials per configuration and the whole 95 % CI on the "
    "claim's side of the bound (inside the band for 'within'; for a count of failures: none "
    "observed and the per-trial (cluster) Wilson 95 % upper bound of the rate below the "
    "claim's rate_bound)",
    FAILS: f"at least {MIN_TRIALS} trials per configuration and the whole 95 % CI on the other "
    "side of the bound (wholly outside the band; for a count: failures observed); or a point "
    "of the configuration failed because the system under test did (api_down, sshd_died); "
    "one such configuration decides a claim about all of them",
    INCONCLUSIVE: f"fewer than {MIN_TRIALS} trials, a 95 % CI that straddles the bound, a point "
    "that failed by the harness (testbed_error, locust_error, worker_lost, internal_error) "
    "after its rerun, or a point whose environment counters are missing; the point estimate "
    "is shown",
    NOT_TESTABLE: "the environment (this machine's CPU, the load generator's CPU or users) ran "
    "out before the requests in flight broke the bound: limit_kind environment",
    PARTIAL: "some levels the claim names were not in the sweep (listed as missing), or every "
    "point of a configuration failed by the harness",
    NOT_MEASURED: "no point of the sweep matches the claim, or none gives the comparison it needs",
}

COMPARE: dict[str, Callable[[float, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "within": lambda v, t: t[0] <= v <= t[1],
}


@dataclass
class ClaimResult:
    """The verdict of one claim on one configuration (group) of the sweep."""

    claim_id: str
    group: str
    verdict: str
    estimate: str = ""  # what the point estimate alone says (holds / does not hold)
    value: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    ci_method: str = ""
    n_trials: int = 0
    unit: str = ""
    comparison: str = ""
    threshold: str = ""
    note: str = ""
    rate: float = math.nan  # a count claim's mean rate per trial (count / rate_of); its CI is ci_*


# ---------------------------------------------------------------- small pieces


def trial_values(rows: pd.DataFrame, metric: str) -> list[float]:
    """The metric's value of each point (trial) among rows, ordered by point id."""
    m = rows[rows["metric"] == metric].sort_values("point_id")
    return [float(v) for v in m["value"]]


def _estimate(c: Claim, value: float) -> str:
    if isnan(value):
        return ""
    return HOLDS if COMPARE[c.comparison](value, c.threshold) else FAILS


def ci_side(c: Claim, low: float, high: float) -> str | None:
    """HOLDS if the whole CI satisfies the claim, FAILS if the whole CI violates it, else None."""
    if isnan(low) or isnan(high):
        return None
    t = c.threshold
    if c.comparison == "within":
        if t[0] <= low and high <= t[1]:
            return HOLDS
        return FAILS if high < t[0] or low > t[1] else None
    if c.comparison == "==":
        return HOLDS if low == high == t else (FAILS if high < t or low > t else None)
    if COMPARE[c.comparison](low, t) and COMPARE[c.comparison](high, t):
        return HOLDS
    if not COMPARE[c.comparison](low, t) and not COMPARE[c.comparison](high, t):
        return FAILS
    return None


def _decide(c: Claim, n: int, low: float, high: float) -> tuple[str, str]:
    """(verdict, why) for a configuration with n trials and a 95 % CI [low, high]."""
    if n < MIN_TRIALS:
        return INCONCLUSIVE, f"{n} trial(s), fewer than {MIN_TRIALS}"
    side = ci_side(c, low, high)
    if side is None and n >= 2 and (isnan(low) or isnan(high)):
        return INCONCLUSIVE, "some trials' values are infinite (requests not answered): no CI"
    if side is None:
        return INCONCLUSIVE, "the 95 % CI straddles the bound"
    return side, ""


def threshold_text(c: Claim) -> str:
    t = c.threshold
    return f"[{t[0]:g}, {t[1]:g}]" if c.comparison == "within" else f"{float(t):g}"


def _group_label(keys: Sequence[str], values: Sequence[Any]) -> str:
    parts = [f"{k}={fmt_level(v)}" for k, v in zip(keys, values, strict=True)]
    return ", ".join(parts) if parts else "all"


def _open_params(c: Claim) -> list[str]:
    """Condition parameters that admit several values (a list, or a bound such as <= 100)."""
    return [
        k
        for k, v in c.condition.items()
        if isinstance(v, dict) or (isinstance(v, list) and len(v) > 1)
    ]


def _groups(
    rows: pd.DataFrame, skip: Sequence[str], always: Sequence[str] = ()
) -> list[tuple[str, pd.DataFrame]]:
    """Split rows into configurations: by every varying design parameter not in skip.

    Parameters in `always` label the group even when the sweep has one level of them (so
    a claim about "10, 100 and 500 RPS" says which rate it measured).
    """
    keys = [
        p
        for p in param_columns(rows)
        if p not in skip
        and p not in REPETITION_PARAMS
        and (rows[p].nunique(dropna=True) > 1 or p in always)
    ]
    if not keys:
        return [("all", rows)]
    out = []
    for vals, g in rows.groupby(keys, dropna=False, sort=True):
        vals = vals if isinstance(vals, tuple) else (vals,)
        out.append((_group_label(keys, vals), g))
    return out


def _points(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop_duplicates("point_id")


def context_note(rows: pd.DataFrame) -> str:
    """Failed, saturated and environment-limited points among rows, in the one wording of
    the tidy `saturation` column (a saturated system under test is a finding, said so)."""
    pts = _points(rows)
    n = len(pts)
    notes = []
    if "saturation" in pts.columns:
        for text, k in pts["saturation"].fillna("").astype(str).value_counts().sort_index().items():
            if text:
                notes.append(f"{k} of {n} point(s) {text}")
    env = pts[environment_limited(pts)]
    if len(env):
        causes = sorted(
            {x for v in env.get("limited_by", []) for x in saturation.items(v) if _environmental(x)}
        )
        what = ", ".join(causes) if causes else "the environment"
        notes.append(f"{len(env)} point(s) limited outside the study's setup first ({what})")
    return "; ".join(notes)


def _environmental(resource: str) -> bool:
    return resource == "machine_cpu" or resource.startswith("generator_")


def _ok(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["status"] == "ok"]


def _env_limited(rows: pd.DataFrame) -> bool:
    return bool(environment_limited(rows).any())


def _limit_unknown(rows: pd.DataFrame) -> int:
    if "limit_kind" not in rows.columns:
        return 0
    return int(_points(rows)["limit_kind"].astype(str).eq("unknown").sum())


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _reruns(pts: pd.DataFrame) -> int:
    """Earlier failed attempts of these points (tidy `reruns`, else point.json `attempts`)."""
    if "reruns" in pts.columns:
        return int(pd.to_numeric(pts["reruns"], errors="coerce").fillna(0).sum())
    if "attempts" not in pts.columns:
        return 0
    n = 0
    for v in pts["attempts"]:
        try:
            got = json.loads(v) if isinstance(v, str) else v
        except ValueError:
            continue
        n += len(got) if isinstance(got, list) else 0
    return n


def point_failures(rows: pd.DataFrame) -> tuple[dict[str, int], dict[str, int]]:
    """Failed points among rows by final error_class: (system under test's, harness's).

    A class that is neither (or none) is not evidence either: it counts with the harness's.
    """
    pts = _points(rows)
    failed = pts[pts["status"] != "ok"]
    classes = (
        failed["error_class"].fillna("unknown").astype(str)
        if "error_class" in failed.columns
        else pd.Series("unknown", index=failed.index)
    )
    sut = classes[classes.isin(SUT_CLASSES)].value_counts().sort_index()
    harness = classes[~classes.isin(SUT_CLASSES)].value_counts().sort_index()
    return {str(k): int(v) for k, v in sut.items()}, {str(k): int(v) for k, v in harness.items()}


def _classes(d: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in d.items())


def judge_context(res: ClaimResult, rows: pd.DataFrame) -> ClaimResult:
    """Apply what the points' fates say, in this order: a point that failed because the
    system under test did -> does not hold; a point that failed by the harness after its
    rerun -> inconclusive (partially measured when every point failed so); the environment
    ran out first -> not testable here; environment counters missing -> inconclusive."""
    sut, harness = point_failures(rows)
    pts = _points(rows)
    n_ok = int((pts["status"] == "ok").sum())
    reruns = _reruns(pts)
    rerun_note = f"{reruns} earlier failed attempt(s) rerun" if reruns else ""
    if sut:
        k = sum(sut.values())
        why = f"{k} point(s) failed because the system under test did ({_classes(sut)})"
        res.verdict, res.note = FAILS, _join(why, res.note, rerun_note)
        res.estimate = res.estimate or FAILS
        return res
    if harness:
        n = sum(harness.values())
        why = (
            f"{n} point(s) failed by the harness after a rerun ({_classes(harness)}): not evidence"
        )
        if n_ok == 0 or res.verdict == NOT_MEASURED:
            lost = "every point failed" if n_ok == 0 else "the points it needs failed"
            res.verdict, res.note = PARTIAL, _join(f"{lost}; {why}", res.note)
        else:
            res.verdict, res.note = INCONCLUSIVE, _join(why, res.note)
        res.note = _join(res.note, rerun_note)
        return res
    if res.verdict == NOT_MEASURED:
        return res
    if _env_limited(rows):
        res.verdict = NOT_TESTABLE
        res.note = _join("the environment ran out before the bound was broken", res.note)
    elif _limit_unknown(rows):
        res.verdict = INCONCLUSIVE
        res.note = _join(
            f"{_limit_unknown(rows)} point(s) without the counters to tell whether the "
            "environment ran out first",
            res.note,
        )
    res.note = _join(res.note, rerun_note)
    return res


# ---------------------------------------------------------------- evaluators


def _base(c: Claim, label: str, unit: str | None = None) -> dict[str, Any]:
    return {
        "claim_id": c.id,
        "group": label,
        "unit": c.unit if unit is None else unit,
        "comparison": c.comparison,
        "threshold": threshold_text(c),
    }


def _groups_of(c: Claim, rows: pd.DataFrame, skip: Sequence[str] = ()) -> list:
    return _groups(rows, skip=skip, always=[*_open_params(c), *c.split])


def evaluate_threshold(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    results = []
    for label, g in _groups_of(c, rows):
        note = context_note(g)
        ok = _ok(g)
        vals = trial_values(ok, c.metric)
        base = _base(c, label)
        if not vals:
            res = ClaimResult(verdict=NOT_MEASURED, note=f"no ok point with {c.metric}", **base)
        elif c.aggregate == "sum":
            res = _count_result(c, ok, vals, base)
        else:
            value, low, high = t_interval(vals)
            method = "Student t 95 % over trials" if len(vals) > 1 else "single trial: no CI"
            if c.unit == "fraction" and not isnan(low):
                low, high = max(low, 0.0), min(high, 1.0)  # a share cannot leave [0, 1]
                method += ", clipped to [0, 1]"
            verdict, why = _decide(c, len(vals), low, high)
            res = ClaimResult(
                verdict=verdict,
                estimate=_estimate(c, value),
                value=value,
                ci_low=low,
                ci_high=high,
                ci_method=method,
                n_trials=len(vals),
                note=why,
                **base,
            )
        res = judge_context(res, g)
        res.note = _join(res.note, note)
        results.append(res)
    return results


def _count_result(
    c: Claim, ok: pd.DataFrame, vals: list[float], base: dict[str, Any]
) -> ClaimResult:
    """A claim on a count (e.g. "0 failures"): the total over trials, and the per-trial
    (cluster) 95 % interval of its rate over `rate_of` (e.g. requests sent).

    Refusals come in bursts, so the trial, not the request, is the unit: with none observed
    the upper bound is the largest per-trial Wilson bound (stats.cluster_rate_interval).
    "holds" needs that bound below `rate_bound` in at least MIN_TRIALS trials; failures
    observed in at least MIN_TRIALS trials do not hold.
    """
    count = float(np.sum(vals))
    totals = trial_values(ok, c.rate_of or "")
    rate, low, high = (
        cluster_rate_interval(vals, totals)
        if len(totals) == len(vals)
        else (math.nan, math.nan, math.nan)
    )
    n = len(vals)
    satisfied = COMPARE[c.comparison](count, c.threshold)
    if n < MIN_TRIALS:
        verdict, why = INCONCLUSIVE, f"{n} trial(s), fewer than {MIN_TRIALS}"
    elif not satisfied:
        verdict, why = FAILS, ""
    elif not isnan(high) and high < c.rate_bound:
        verdict, why = HOLDS, ""
    else:
        verdict = INCONCLUSIVE
        why = (
            f"too few requests per trial to exclude a rate of {c.rate_bound:g} "
            f"(largest per-trial Wilson upper {high:.3g})"
        )
    return ClaimResult(
        verdict=verdict,
        estimate=HOLDS if satisfied else FAILS,
        value=count,
        ci_low=low,
        ci_high=high,
        ci_method=f"per-trial (cluster) 95 % bound of {c.metric}/{c.rate_of}",
        n_trials=n,
        note=_join(why, f"mean rate {rate:.4g} over {n} trial(s) of {sum(totals):.0f} {c.rate_of}"),
        rate=rate,
        **base,
    )


def _level(spec: Any, levels: list[Any]) -> Any:
    """'first'/'second' name a level by sorted position; anything else is the value."""
    if spec in POSITIONAL:
        idx = POSITIONAL.index(spec)
        return levels[idx] if len(levels) > idx else None
    return spec


RATIO_METHOD = "Welch t 95 % on log values (ratio of geometric means)"
TREND_METHOD = "largest step: Welch t on log values, simultaneous 95 % over the steps (Bonferroni)"
FIRST_METHOD = "first level reached (largest trial peak over the limit; rival: trial mean > 0)"


def _pair(c: Claim, g: pd.DataFrame) -> tuple[Any, Any, list[float], list[float], pd.DataFrame]:
    """The numerator and denominator levels of `over`, their trials, and the rows they use."""
    assert c.over is not None
    levels = order(g[c.over].dropna().unique())
    ok = _ok(g)
    ok_levels = order(ok[c.over].dropna().unique())
    num_level = _level(c.numerator, ok_levels if c.numerator in POSITIONAL else levels)
    den_level = _level(c.denominator, ok_levels if c.denominator in POSITIONAL else levels)
    at = {
        lv: ok[match(ok[c.over], lv)] if lv is not None else ok.iloc[0:0]
        for lv in (num_level, den_level)
    }
    used = g[match(g[c.over], [lv for lv in (num_level, den_level) if lv is not None])]
    return (
        num_level,
        den_level,
        trial_values(at[num_level], c.metric),
        trial_values(at[den_level], c.metric),
        used,
    )


def _missing_pair(c: Claim, g: pd.DataFrame) -> str:
    levels = order(_ok(g)[c.over].dropna().unique())
    if c.numerator in POSITIONAL or c.denominator in POSITIONAL:
        return f"needs two levels of {c.over}, has {fmt_levels(levels) or 'none'}"
    return f"needs {c.over}={c.numerator} and {c.over}={c.denominator}"


def evaluate_ratio(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    assert c.over is not None
    results = []
    for label, g in _groups_of(c, rows, skip=(c.over,)):
        note = context_note(g)
        base = _base(c, label)
        num_level, den_level, num, den, used = _pair(c, g)
        if not num or not den or same(num_level, den_level):
            res = ClaimResult(verdict=NOT_MEASURED, note=_missing_pair(c, g), **base)
            if len(used) and not same(num_level, den_level):
                res = judge_context(res, used)
            res.note = _join(res.note, note)
            results.append(res)
            continue
        value, low, high = log_ratio_interval(num, den)
        n = min(len(num), len(den))
        verdict, why = _decide(c, n, low, high)
        pair = f"{c.over}={fmt_level(num_level)} / {c.over}={fmt_level(den_level)}"
        res = ClaimResult(
            verdict=verdict,
            estimate=_estimate(c, value),
            value=value,
            ci_low=low,
            ci_high=high,
            ci_method="single trial: no CI" if n < 2 else RATIO_METHOD,
            n_trials=n,
            note=_join(why, pair),
            **base,
        )
        res = judge_context(res, used)
        if c.construction:
            res.note = _join(res.note, construction_note(used, c.over, num_level, den_level))
        res.note = _join(res.note, note)
        results.append(res)
    return results


def evaluate_difference(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    """mean(numerator level) - mean(denominator level) of `over`, Welch t 95 % CI; with
    denominator_zero, the denominator level must also show none in every trial."""
    assert c.over is not None
    results = []
    for label, g in _groups_of(c, rows, skip=(c.over,)):
        note = context_note(g)
        base = _base(c, label)
        num_level, den_level, num, den, used = _pair(c, g)
        if not num or not den:
            res = ClaimResult(verdict=NOT_MEASURED, note=_missing_pair(c, g), **base)
            if len(used):
                res = judge_context(res, used)
            res.note = _join(res.note, note)
            results.append(res)
            continue
        value, low, high = difference_interval(num, den)
        n = min(len(num), len(den))
        verdict, why = _decide(c, n, low, high)
        est = _estimate(c, value)
        if c.denominator_zero:
            nonzero = sum(v != 0 for v in den)
            zero_note = (
                f"{c.metric} at {c.over}={fmt_level(den_level)}: "
                f"{nonzero} of {len(den)} trial(s) above 0"
            )
            why = _join(why, zero_note)
            if nonzero:
                est = FAILS
                if len(den) >= MIN_TRIALS or verdict == FAILS:
                    verdict = FAILS
            elif verdict == HOLDS and len(den) < MIN_TRIALS:
                verdict = INCONCLUSIVE
        pair = f"{c.over}={fmt_level(num_level)} - {c.over}={fmt_level(den_level)}"
        res = ClaimResult(
            verdict=verdict,
            estimate=est,
            value=value,
            ci_low=low,
            ci_high=high,
            ci_method="single trial: no CI" if n < 2 else "Welch t 95 % over trials",
            n_trials=n,
            note=_join(why, pair),
            **base,
        )
        res = judge_context(res, used)
        res.note = _join(res.note, note)
        results.append(res)
    return results


def evaluate_trend(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    """Trial values at the `levels` of `over`, in order. Each neighbouring step's ratio gets
    a simultaneous (Bonferroni) Welch t interval on the logs, so the largest step's CI is
    [max of the lows, max of the highs]; "rises" is last over first (95 %)."""
    assert c.over is not None
    results = []
    for label, g in _groups_of(c, rows, skip=(c.over,)):
        note = context_note(g)
        ok = _ok(g)
        base = _base(c, label, unit="ratio")
        series = [
            (lv, trial_values(ok[match(ok[c.over], lv)], c.metric)) for lv in c.series_levels()
        ]
        present = [(lv, v) for lv, v in series if v]
        used = g[match(g[c.over], [lv for lv, _ in series])]
        if len(present) < c.min_levels:
            need = f"needs at least {c.min_levels} of {c.over} in {fmt_levels(c.series_levels())}"
            got = f"has {fmt_levels(lv for lv, _ in present) or 'none'}"
            res = judge_context(
                ClaimResult(verdict=NOT_MEASURED, note=_join(need, got), **base), used
            )
            res.note = _join(res.note, note)
            results.append(res)
            continue
        groups = [v for _, v in present]
        value, low, high = max_step_interval(groups)
        steps = step_intervals(groups)
        rise, rise_low, rise_high = log_ratio_interval(groups[-1], groups[0])
        floor = 1.0 - c.max_drop
        n = min(len(v) for v in groups)
        medians = [_geo(v) for v in groups]
        shape = ", ".join(
            f"{fmt_level(lv)}: {m:.4g}" for (lv, _), m in zip(present, medians, strict=True)
        )
        fails = [
            w
            for w, b in (
                ("does not rise (95 % CI of last / first at or below 1)", rise_high <= 1.0),
                (
                    f"falls by more than {c.max_drop:.0%} at a step (simultaneous CI)",
                    any(hi < floor for _, _, hi in steps),
                ),
                (f"a step above {c.threshold}x (simultaneous CI)", low > float(c.threshold)),
            )
            if b
        ]
        holds = (
            rise_low > 1.0 and all(lo >= floor for _, lo, _ in steps) and high <= float(c.threshold)
        )
        if n < MIN_TRIALS:
            verdict, why = INCONCLUSIVE, f"{n} trial(s) at some level, fewer than {MIN_TRIALS}"
        elif fails:
            verdict, why = FAILS, _join(*fails)
        elif holds:
            verdict, why = HOLDS, ""
        else:
            verdict, why = (
                INCONCLUSIVE,
                "a 95 % CI (rise, a drop or the largest step) straddles its bound",
            )
        est_ok = (
            rise > 1.0 and all(e >= floor for e, _, _ in steps) and _estimate(c, value) == HOLDS
        )
        res = ClaimResult(
            verdict=verdict,
            estimate=HOLDS if est_ok else FAILS,
            value=value,
            ci_low=low,
            ci_high=high,
            ci_method="single trial: no CI" if n < 2 else TREND_METHOD,
            n_trials=n,
            note=_join(
                why,
                f"last / first {rise:.3g} [{rise_low:.3g}, {rise_high:.3g}]",
                f"{c.metric} (geometric mean) by {c.over}: {shape}",
            ),
            **base,
        )
        res = judge_context(res, used)
        res.note = _join(res.note, note)
        results.append(res)
    return results


def _geo(v: Sequence[float]) -> float:
    x = np.asarray(v, dtype=float)
    if (x <= 0).any():
        return float(np.mean(x))
    return float(np.exp(np.mean(np.log(x))))


def evaluate_first_limit(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    """Which limit a configuration reaches first as `over` rises: the metric against its
    limit (reached when the largest trial peak is >= limit_share of limit_metric), or the
    rival (reached when its trial mean is > 0). The value is the largest share reached.
    Holds when the metric's limit comes first (or alone); does not hold when the rival's
    does; neither reached: inconclusive."""
    assert c.over is not None and c.limit_metric and c.rival_metric
    results = []
    for label, g in _groups_of(c, rows, skip=(c.over,)):
        note = context_note(g)
        ok = _ok(g)
        base = _base(c, label, unit="share of limit")
        levels = order(ok[c.over].dropna().unique())
        mem_at, rival_at, seen, n, top = None, None, [], math.inf, math.nan
        for lv in levels:
            at = ok[match(ok[c.over], lv)]
            peak = trial_values(at, c.metric)
            limit = trial_values(at, c.limit_metric)
            rival = trial_values(at, c.rival_metric)
            if not peak or not limit:
                continue
            share = float(np.max(peak)) / float(np.min(limit)) if np.min(limit) > 0 else math.nan
            seen.append(f"{fmt_level(lv)}: {np.max(peak):.0f} of {np.min(limit):.0f}")
            n = min(n, len(peak))
            if mem_at is None and share >= c.limit_share:
                mem_at = lv
            if rival_at is None and rival and float(np.mean(rival)) > 0:
                rival_at = lv
            top = share if isnan(top) else max(top, share)
        if not seen:
            res = ClaimResult(
                verdict=NOT_MEASURED,
                note=f"no ok point with {c.metric} and {c.limit_metric}",
                **base,
            )
            results.append(judge_context(res, g))
            continue
        rival = c.rival_name or c.rival_metric
        order_note = (
            f"memory reached {c.limit_share:.0%} of its limit first at {c.over}="
            f"{fmt_level(mem_at) if mem_at is not None else 'none'}; {rival} first at "
            f"{c.over}={fmt_level(rival_at) if rival_at is not None else 'none'}"
        )
        if mem_at is not None and (rival_at is None or float(mem_at) < float(rival_at)):
            verdict, why = HOLDS, ""
        elif rival_at is not None and (mem_at is None or float(rival_at) <= float(mem_at)):
            verdict, why = FAILS, f"{rival} limits first"
        else:
            verdict, why = INCONCLUSIVE, "neither limit reached at the measured levels"
        if n < MIN_TRIALS and verdict != INCONCLUSIVE:
            verdict, why = INCONCLUSIVE, _join(why, f"{n} trial(s), fewer than {MIN_TRIALS}")
        res = ClaimResult(
            verdict=verdict,
            estimate=HOLDS
            if mem_at is not None and (rival_at is None or float(mem_at) < float(rival_at))
            else FAILS,
            value=top,
            ci_method=FIRST_METHOD,
            n_trials=int(n) if n != math.inf else 0,
            note=_join(
                why, order_note, f"peak {c.metric} by {c.over} (MiB of limit): " + ", ".join(seen)
            ),
            **base,
        )
        res = judge_context(res, g)
        res.note = _join(res.note, note)
        results.append(res)
    return results


# Facts of an emulated host (tidy provenance columns under provenance.testbed.hosts.<host>.)
# that could change latency, and the one that cannot unless it is reached.
LATENCY_FACTS = {
    "host_facts.cpu_cores_applied": "CPU quota",
    "host_facts.cgroup.cpu_quota_us": "CFS quota",
    "host_facts.netem.delay_ms_applied": "network delay",
    "host_facts.kind": "kind of host",
    "kernel": "kernel",
    "sshd_version": "sshd version",
    "profile_settings.max_startups": "MaxStartups",
    "profile_settings.max_sessions": "MaxSessions",
    "client_tcp.mode": "client TCP",
}
MEMORY_FACT = "host_facts.memory_bytes_applied"


def construction_note(rows: pd.DataFrame, over: str, a: Any, b: Any) -> str:
    """ "equal by construction here: ..." when hosts a and b differ in no fact that could
    change latency (LATENCY_FACTS), naming what differs (memory) and what does not."""
    if over != "host" or rows.empty:
        return ""
    pts = _points(rows)
    same_facts, differ = [], []
    for key, name in LATENCY_FACTS.items():
        va = _fact(pts, a, key)
        vb = _fact(pts, b, key)
        if va is None and vb is None:
            if key == "host_facts.netem.delay_ms_applied":
                same_facts.append("network delay (none applied)")
            continue
        (same_facts if va == vb else differ).append(name if va == vb else f"{name} ({va} vs {vb})")
    ma, mb = _fact(pts, a, MEMORY_FACT), _fact(pts, b, MEMORY_FACT)
    mem = ""
    if ma is not None and mb is not None and ma != mb:
        mem = f"memory limit {float(ma) / 2**20:.0f} vs {float(mb) / 2**20:.0f} MiB"
    if differ or not same_facts:
        return _join(
            "hosts differ in " + ", ".join(differ) if differ else "host facts not recorded",
            mem,
        )
    return (
        f"equal by construction here: {fmt_level(a)} and {fmt_level(b)} differ only in "
        f"{mem or 'nothing recorded'} (no effect on latency unless reached); the same "
        f"{', '.join(same_facts)}, on the same machine"
    )


VERSUS_METHOD = "Welch t 95 % on log values, per rival; the weaker of the two ratios"


def evaluate_versus(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    """The subject level of `over` (numerator) against every other level it was measured
    beside, per configuration: `metric` subject / rival (higher is better) and, when given,
    `cost_metric` rival / subject (lower is better), each a ratio of geometric means with
    its Welch t 95 % CI on the logs. A rival configuration holds when both ratios hold, does
    not hold when either does not; its value and CI are the weaker ratio's."""
    assert c.over is not None
    results = []
    for label, g in _groups_of(c, rows, skip=(c.over,)):
        note = context_note(g)
        ok = _ok(g)
        subject = ok[match(ok[c.over], c.numerator)]
        rivals = [lv for lv in order(ok[c.over].dropna().unique()) if not same(lv, c.numerator)]
        if subject.empty or not rivals:
            base = _base(c, label)
            why = f"needs {c.over}={c.numerator} and another {c.over} beside it"
            results.append(ClaimResult(verdict=NOT_MEASURED, note=_join(why, note), **base))
            continue
        for rival in rivals:
            other = ok[match(ok[c.over], rival)]
            used = g[match(g[c.over], [c.numerator, rival])]
            base = _base(c, _join(label if label != "all" else "", f"vs {c.over}={rival}"))
            parts = []
            for metric, num_rows, den_rows in (
                (c.metric, subject, other),
                *([(c.cost_metric, other, subject)] if c.cost_metric else []),
            ):
                num, den = trial_values(num_rows, metric), trial_values(den_rows, metric)
                value, low, high = log_ratio_interval(num, den)
                n = min(len(num), len(den))
                verdict, why = _decide(c, n, low, high) if n else (NOT_MEASURED, "no trials")
                parts.append((metric, value, low, high, n, verdict, why))
            verdicts = [p[5] for p in parts]
            if FAILS in verdicts:
                verdict = FAILS
            elif all(v == HOLDS for v in verdicts):
                verdict = HOLDS
            elif NOT_MEASURED in verdicts:
                verdict = NOT_MEASURED
            else:
                verdict = INCONCLUSIVE
            weak = min(parts, key=lambda p: p[1] if not isnan(p[1]) else -math.inf)
            text = "; ".join(
                f"{m} {'%s/%s' % ((c.numerator, rival) if m == c.metric else (rival, c.numerator))}"
                f" = {v:.3g} [{lo:.3g}, {hi:.3g}] ({vd}{', ' + why if why else ''})"
                for m, v, lo, hi, _n, vd, why in parts
            )
            res = ClaimResult(
                verdict=verdict,
                estimate=_estimate(c, weak[1]),
                value=weak[1],
                ci_low=weak[2],
                ci_high=weak[3],
                ci_method=VERSUS_METHOD,
                n_trials=min(p[4] for p in parts),
                note=text,
                **base,
            )
            res = judge_context(res, used)
            res.note = _join(res.note, note)
            results.append(res)
    return results


def _fact(pts: pd.DataFrame, host: Any, key: str) -> Any:
    col = f"provenance.testbed.hosts.{host}.{key}"
    if col not in pts.columns:
        return None
    vals = pts[col].dropna().unique()
    return vals[0] if len(vals) else None


EVALUATORS = {
    "threshold": evaluate_threshold,
    "ratio": evaluate_ratio,
    "trend": evaluate_trend,
    "difference": evaluate_difference,
    "first_limit": evaluate_first_limit,
    "versus": evaluate_versus,
}


# ---------------------------------------------------------------- a claim, all claims


@dataclass
class Evidence:
    """What a claim's condition found in the sweep, before any verdict."""

    rows: pd.DataFrame | None  # matching rows with a whole record (None: a column missing)
    broken_note: str  # points left out for a broken record
    measured: dict[str, list[Any]]  # named levels the sweep has, per parameter
    missing: dict[str, list[Any]]  # named levels it lacks


def gather(c: Claim, tidy: pd.DataFrame) -> Evidence:
    """The claim's rows (broken records left out, said so) and its named levels found/missing."""
    rows = select(tidy, c.condition) if len(tidy) and "metric" in tidy.columns else None
    named = c.named_levels()
    if rows is None:
        return Evidence(None, "", {}, {k: list(v) for k, v in named.items()})
    good = integrity_ok(rows)
    broken = _points(rows[~good])
    broken_note = ""
    if len(broken):
        why = "; ".join(sorted({str(v) for v in broken.get("integrity", [])}))
        broken_note = f"{len(broken)} point(s) with a broken record left out ({why})"
    rows = rows[good]
    measured, missing = {}, {}
    for param, levels in named.items():
        col = rows[param] if param in rows.columns else pd.Series(dtype=object)
        have = [lv for lv in levels if bool(match(col, lv).any())]
        measured[param] = have
        missing[param] = [lv for lv in levels if lv not in have]
    return Evidence(rows, broken_note, measured, missing)


def levels_text(levels: dict[str, list[Any]]) -> str:
    """{"rps": [100, 500]} -> "rps 100, 500"; empty lists left out."""
    return "; ".join(f"{k} {fmt_levels(v)}" for k, v in levels.items() if v)


def evaluate_claim(c: Claim, tidy: pd.DataFrame) -> list[ClaimResult]:
    """Per-configuration verdicts of one claim; one 'not measured' row if nothing matches."""
    return _evaluate(c, tidy, gather(c, tidy))


def _evaluate(c: Claim, tidy: pd.DataFrame, ev: Evidence) -> list[ClaimResult]:
    base = {"claim_id": c.id, "unit": c.unit, "comparison": c.comparison}
    base["threshold"] = threshold_text(c)
    if ev.rows is None:
        missing = [k for k in c.condition if k not in tidy.columns]
        why = f"no column(s) {missing}" if missing else "no data"
        return [ClaimResult(group="all", verdict=NOT_MEASURED, note=why, **base)]
    if ev.rows.empty:
        why = _join("no point matches the condition", ev.broken_note)
        return [ClaimResult(group="all", verdict=NOT_MEASURED, note=why, **base)]
    results = EVALUATORS[c.kind](c, ev.rows)
    for r in results:
        r.note = _join(r.note, ev.broken_note)
    return results


def overall(
    c: Claim, results: list[ClaimResult], missing: dict[str, list[Any]] | None = None
) -> str:
    """One verdict per claim from its configurations and the named levels it lacks.

    Order: nothing measured -> not measured; (require any) a configuration that holds ->
    holds; a configuration that does not hold -> does not hold (a counterexample stands
    even when levels are missing; not for a trend, which a missing level can change);
    a configuration not testable here -> not testable here; missing levels, or a
    configuration whose every point failed by the harness -> partially measured; a configuration
    inconclusive -> inconclusive; every configuration not holding -> does not hold;
    else holds.
    """
    verdicts = [r.verdict for r in results]
    measured = [v for v in verdicts if v != NOT_MEASURED]
    if not measured:
        return NOT_MEASURED
    partial = any((missing or {}).values()) or PARTIAL in measured
    if c.require == "any" and HOLDS in measured:
        return HOLDS
    counterexample = FAILS in measured and (c.require == "all" or set(measured) == {FAILS})
    if counterexample and (c.kind != "trend" or not partial):
        return FAILS
    if NOT_TESTABLE in measured:
        return NOT_TESTABLE
    if partial:
        return PARTIAL
    if INCONCLUSIVE in measured:
        return INCONCLUSIVE
    return HOLDS


def _construction_summary(results: list[ClaimResult]) -> str:
    """ "equal by construction here (...)" once per claim, when a configuration said so."""
    for r in results:
        if "equal by construction here" in r.note:
            part = r.note[r.note.index("equal by construction here") :]
            return part.split("; ")[0]
    return ""


def evaluate(claims: list[Claim], tidy: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(details, summary): one row per claim and configuration, and one row per claim."""
    details, summary = [], []
    for c in claims:
        ev = gather(c, tidy)
        res = _evaluate(c, tidy, ev)
        details.extend(asdict(r) for r in res)
        verdict = overall(c, res, ev.missing)
        measured = [r for r in res if r.verdict != NOT_MEASURED]
        summary.append(
            {
                "claim_id": c.id,
                "text": c.text.strip(),
                "source": c.source,
                "published": c.published,
                "metric": c.metric,
                "comparison": c.comparison,
                "threshold": threshold_text(c),
                "verdict": verdict,
                "rule": VERDICT_RULES[verdict],
                "levels_named": levels_text(c.named_levels()),
                "levels_measured": levels_text(ev.measured),
                "levels_missing": levels_text(ev.missing),
                "groups_measured": len(measured),
                "groups_holding": sum(r.verdict == HOLDS for r in measured),
                "note": _join(ev.broken_note, _construction_summary(res)),
                "operationalisation": " ".join(c.operationalisation.split()),
            }
        )
    return pd.DataFrame(details), pd.DataFrame(summary)
