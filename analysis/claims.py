"""Verdicts on the study's claims (paper/claims.yaml) from a sweep's tidy table.

The rules are written at the head of paper/claims.yaml (and in VERDICT_RULES, which the
report prints beside each verdict); this module implements them. A verdict says what the
evidence supports, never more: six states, from "holds" to "not measured".
"""

from __future__ import annotations

import itertools
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
    limited_by,
    match,
    param_columns,
    select,
)
from analysis.stats import bootstrap_interval, t_interval, wilson_interval

__all__ = ["Claim", "evaluate", "evaluate_claim", "load_claims", "load_study", "overall"]

HOLDS = "holds"
FAILS = "does not hold"
INCONCLUSIVE = "inconclusive"
NOT_TESTABLE = "not testable here"
PARTIAL = "partially measured"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_TESTABLE, PARTIAL, NOT_MEASURED)

# Fewest trials per configuration for a verdict either way.
MIN_TRIALS = 3

# One line per state: what it takes (shown beside each verdict in the report).
VERDICT_RULES = {
    HOLDS: f"at least {MIN_TRIALS} trials per configuration and the whole 95 % CI on the "
    "claim's side of the bound (inside the band for 'within'; for a count of failures: none "
    "observed and the Wilson 95 % upper bound of the rate below the claim's rate_bound)",
    FAILS: f"at least {MIN_TRIALS} trials per configuration and the whole 95 % CI on the other "
    "side of the bound (wholly outside the band; for a count: failures observed); one such "
    "configuration decides a claim about all of them",
    INCONCLUSIVE: f"fewer than {MIN_TRIALS} trials, or a 95 % CI that straddles the bound; "
    "the point estimate is shown",
    NOT_TESTABLE: "a needed point was limited by something outside the study's setup (this "
    "machine's CPU, or the load generator): limit_kind environment",
    PARTIAL: "some levels the claim names were not in the sweep (listed as missing)",
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
    failed = int((pts["status"] != "ok").sum())
    if failed:
        notes.append(f"{failed} failed point(s)")
    if "saturation" in pts.columns:
        for text, k in pts["saturation"].fillna("").astype(str).value_counts().sort_index().items():
            if text:
                notes.append(f"{k} of {n} point(s) {text}")
    env = pts[environment_limited(pts)]
    if len(env):
        causes = sorted(
            {x for v in env.get("limited_by", []) for x in limited_by(v) if _environmental(x)}
        )
        what = ", ".join(causes) if causes else "the environment"
        notes.append(f"{len(env)} point(s) limited outside the study's setup ({what})")
    return "; ".join(notes)


def _environmental(resource: str) -> bool:
    return resource == "machine_cpu" or resource.startswith("generator_")


def _ok(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["status"] == "ok"]


def _env_limited(rows: pd.DataFrame) -> bool:
    return bool(environment_limited(rows).any())


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# ---------------------------------------------------------------- evaluators


def evaluate_threshold(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    results = []
    for label, g in _groups(rows, skip=(), always=_open_params(c)):
        note = context_note(g)
        ok = _ok(g)
        vals = trial_values(ok, c.metric)
        nfailed = _points(g)["status"].ne("ok").sum()
        base = {"claim_id": c.id, "group": label, "unit": c.unit, "comparison": c.comparison}
        base["threshold"] = threshold_text(c)
        if not vals:
            if nfailed and c.failed_points == "violation":
                verdict, why = _decide_failed_points(int(nfailed))
            else:
                verdict, why = NOT_MEASURED, f"no ok point with {c.metric}"
            results.append(ClaimResult(verdict=verdict, note=_join(why, note), **base))
            continue
        if c.aggregate == "sum":
            res = _count_result(c, ok, vals, int(nfailed), base)
        else:
            value, low, high = t_interval(vals)
            method = "Student t 95 % over trials" if len(vals) > 1 else "single trial: no CI"
            if c.unit == "fraction" and not isnan(low):
                low, high = max(low, 0.0), min(high, 1.0)  # a share cannot leave [0, 1]
                method += ", clipped to [0, 1]"
            verdict, why = _decide(c, len(vals), low, high)
            if nfailed and c.failed_points == "violation" and len(_points(g)) >= MIN_TRIALS:
                verdict, why = FAILS, f"{nfailed} point(s) failed as a whole"
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
        if _env_limited(g) and res.verdict != NOT_MEASURED:
            res.verdict, res.note = (
                NOT_TESTABLE,
                _join("a point limited by the environment", res.note),
            )
        res.note = _join(res.note, note)
        results.append(res)
    return results


def _decide_failed_points(nfailed: int) -> tuple[str, str]:
    if nfailed >= MIN_TRIALS:
        return FAILS, f"every point ({nfailed}) failed as a whole"
    return INCONCLUSIVE, f"{nfailed} point(s), all failed as a whole; fewer than {MIN_TRIALS}"


def _count_result(
    c: Claim, ok: pd.DataFrame, vals: list[float], nfailed: int, base: dict[str, Any]
) -> ClaimResult:
    """A claim on a count (e.g. "0 failures"): the total over trials, and the Wilson 95 %
    interval of its rate over `rate_of` (e.g. requests sent).

    Zero observed failures cannot prove a rate of exactly 0, so "holds" needs the data to
    exclude a rate of `rate_bound` or more (Wilson upper bound below it) in at least
    MIN_TRIALS trials; observed failures in at least MIN_TRIALS trials do not hold.
    """
    count = float(np.sum(vals))
    total = float(np.sum(trial_values(ok, c.rate_of or "")))
    rate, low, high = wilson_interval(count, total)
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
        why = f"too few requests to exclude a rate of {c.rate_bound:g} (Wilson upper {high:.3g})"
    if nfailed and c.failed_points == "violation" and n + nfailed >= MIN_TRIALS:
        verdict, why = FAILS, f"{nfailed} point(s) failed as a whole"
    return ClaimResult(
        verdict=verdict,
        estimate=HOLDS if satisfied and not nfailed else FAILS,
        value=count,
        ci_low=low,
        ci_high=high,
        ci_method=f"Wilson 95 % of {c.metric}/{c.rate_of}",
        n_trials=n,
        note=_join(why, f"rate {rate:.4g} of {total:.0f} {c.rate_of}"),
        **base,
    )


def _level(spec: Any, levels: list[Any]) -> Any:
    """'first'/'second' name a level by sorted position; anything else is the value."""
    if spec in POSITIONAL:
        idx = POSITIONAL.index(spec)
        return levels[idx] if len(levels) > idx else None
    return spec


def evaluate_ratio(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    assert c.over is not None
    results = []
    for label, g in _groups(rows, skip=(c.over,), always=_open_params(c)):
        note = context_note(g)
        ok = _ok(g)
        levels = order(ok[c.over].dropna().unique())
        num_level, den_level = _level(c.numerator, levels), _level(c.denominator, levels)
        base = {"claim_id": c.id, "group": label, "unit": c.unit, "comparison": c.comparison}
        base["threshold"] = threshold_text(c)
        at = {
            lv: ok[match(ok[c.over], lv)] if lv is not None else ok.iloc[0:0]
            for lv in (num_level, den_level)
        }
        num = trial_values(at[num_level], c.metric)
        den = trial_values(at[den_level], c.metric)
        if not num or not den or same(num_level, den_level):
            if c.numerator in POSITIONAL or c.denominator in POSITIONAL:
                missing = f"needs two levels of {c.over}, has {fmt_levels(levels) or 'none'}"
            else:
                missing = f"needs {c.over}={c.numerator} and {c.over}={c.denominator}"
            results.append(ClaimResult(verdict=NOT_MEASURED, note=_join(missing, note), **base))
            continue
        value, low, high = bootstrap_interval([num, den], _ratio_of_means)
        n = min(len(num), len(den))
        verdict, why = _decide(c, n, low, high)
        used = pd.concat([g[match(g[c.over], num_level)], g[match(g[c.over], den_level)]])
        if _env_limited(used):
            verdict, why = NOT_TESTABLE, _join("a point limited by the environment", why)
        pair = f"{c.over}={fmt_level(num_level)} / {c.over}={fmt_level(den_level)}"
        results.append(
            ClaimResult(
                verdict=verdict,
                estimate=_estimate(c, value),
                value=value,
                ci_low=low,
                ci_high=high,
                ci_method="single trial: no CI" if n < 2 else "bootstrap 95 % over trials",
                n_trials=n,
                note=_join(why, pair, note),
                **base,
            )
        )
    return results


def evaluate_trend(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    assert c.over is not None
    results = []
    for label, g in _groups(rows, skip=(c.over,), always=_open_params(c)):
        note = context_note(g)
        ok = _ok(g)
        base = {"claim_id": c.id, "group": label, "unit": "ratio", "comparison": c.comparison}
        base["threshold"] = threshold_text(c)
        series = [
            (lv, trial_values(ok[match(ok[c.over], lv)], c.metric)) for lv in c.series_levels()
        ]
        present = [(lv, v) for lv, v in series if v]
        if len(present) < c.min_levels:
            need = f"needs at least {c.min_levels} of {c.over} in {fmt_levels(c.series_levels())}"
            got = f"has {fmt_levels(lv for lv, _ in present) or 'none'}"
            results.append(ClaimResult(verdict=NOT_MEASURED, note=_join(need, got, note), **base))
            continue
        groups = [v for _, v in present]
        value, low, high = bootstrap_interval(groups, _max_step)
        means = [float(np.mean(v)) for v in groups]
        rises = means[-1] > means[0]
        no_drop = all(b >= a * (1.0 - c.max_drop) for a, b in itertools.pairwise(means))
        n = min(len(v) for v in groups)
        shape = ", ".join(
            f"{fmt_level(lv)}: {m:.4g}" for (lv, _), m in zip(present, means, strict=True)
        )
        bad = [
            w
            for w, b in (
                ("does not rise", not rises),
                (f"falls by more than {c.max_drop:.0%}", not no_drop),
            )
            if b
        ]
        side = ci_side(c, low, high)
        if n < MIN_TRIALS:
            verdict, why = INCONCLUSIVE, f"{n} trial(s) at some level, fewer than {MIN_TRIALS}"
        elif bad or side == FAILS:
            verdict = FAILS
            why = _join(*bad, f"a step above {c.threshold}x" if side == FAILS else "")
        elif side == HOLDS:
            verdict, why = HOLDS, ""
        else:
            verdict, why = INCONCLUSIVE, "the 95 % CI of the largest step straddles the bound"
        estimate = HOLDS if rises and no_drop and _estimate(c, value) == HOLDS else FAILS
        used = g[match(g[c.over], [lv for lv, _ in present])]
        if _env_limited(used):
            verdict, why = NOT_TESTABLE, _join("a point limited by the environment", why)
        results.append(
            ClaimResult(
                verdict=verdict,
                estimate=estimate,
                value=value,
                ci_low=low,
                ci_high=high,
                ci_method="single trial: no CI" if n < 2 else "bootstrap 95 % over trials",
                n_trials=n,
                note=_join(why, f"{c.metric} by {c.over}: {shape}", note),
                **base,
            )
        )
    return results


def _ratio_of_means(num: np.ndarray, den: np.ndarray) -> float:
    d = float(np.mean(den))
    return float(np.mean(num)) / d if d else math.nan


def _max_step(*levels: np.ndarray) -> float:
    means = [float(np.mean(v)) for v in levels]
    steps = [b / a for a, b in itertools.pairwise(means) if a > 0]
    return max(steps) if steps else math.nan


EVALUATORS = {"threshold": evaluate_threshold, "ratio": evaluate_ratio, "trend": evaluate_trend}


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
    configuration without data beside measured ones -> partially measured; a configuration
    inconclusive -> inconclusive; every configuration not holding -> does not hold;
    else holds.
    """
    verdicts = [r.verdict for r in results]
    measured = [v for v in verdicts if v != NOT_MEASURED]
    if not measured:
        return NOT_MEASURED
    partial = any((missing or {}).values())
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
                "note": ev.broken_note,
                "operationalisation": " ".join(c.operationalisation.split()),
            }
        )
    return pd.DataFrame(details), pd.DataFrame(summary)
