"""Evaluate the study's claims (paper/claims.yaml) on a sweep's tidy table.

The rules of evaluation are documented at the head of paper/claims.yaml; this module
implements them. Every verdict is computed here from the data, never written by hand.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from analysis.stats import bootstrap_interval, t_interval, wilson_interval

HOLDS = "holds"
FAILS = "does not hold"
NOT_MEASURED = "not measured by this sweep"

# Design parameters of the contract (ARCHITECTURE.md 3); a tidy table may name more in its
# param_names column. Trials (and their seeds) are repetitions, never a grouping.
CONTRACT_PARAMS = (
    "rps",
    "host",
    "command",
    "profile",
    "library",
    "connections",
    "pattern",
    "duration_s",
    "warmup_s",
    "burst_size",
)
REPETITION_PARAMS = ("trial", "seed")

KINDS = ("threshold", "ratio", "trend")
COMPARISONS: dict[str, Callable[[float, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "within": lambda v, t: t[0] <= v <= t[1],
}
CONDITION_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass
class Claim:
    """One published claim as data (see paper/claims.yaml for the fields)."""

    id: str
    text: str
    source: str
    kind: str
    metric: str
    comparison: str
    threshold: Any
    condition: dict[str, Any] = field(default_factory=dict)
    unit: str = ""
    published: str = ""
    operationalisation: str = ""
    aggregate: str = "mean"
    rate_of: str | None = None
    over: str | None = None
    numerator: Any = None
    denominator: Any = None
    levels: list[Any] | None = None
    min_levels: int = 2
    max_drop: float = 0.0
    max_step: float = math.inf
    failed_points: str = "exclude"
    require: str = "all"


@dataclass
class ClaimResult:
    """The verdict of one claim on one configuration (group) of the sweep."""

    claim_id: str
    group: str
    verdict: str
    value: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    ci_method: str = ""
    ci_conclusive: bool | None = None
    n_trials: int = 0
    unit: str = ""
    comparison: str = ""
    threshold: str = ""
    note: str = ""


def load_claims(path: Path) -> list[Claim]:
    """Claims from YAML, each checked: a bad field stops with the claim's id and the field."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), list):
        raise ValueError(f"{path}: needs a top-level 'claims:' list")
    claims = []
    known = set(Claim.__dataclass_fields__)
    for i, raw in enumerate(doc["claims"]):
        cid = raw.get("id", f"#{i}") if isinstance(raw, dict) else f"#{i}"
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: claim {cid} is not a mapping")
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{path}: claim {cid}: unknown field(s) {sorted(unknown)}")
        try:
            claim = Claim(**raw)
        except TypeError as exc:
            raise ValueError(f"{path}: claim {cid}: {exc}") from exc
        _check(claim, path)
        claims.append(claim)
    ids = [c.id for c in claims]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ValueError(f"{path}: duplicate claim id(s) {sorted(dup)}")
    return claims


def load_study(path: Path) -> dict[str, Any]:
    """The study's own testbed description (claims file, `study_testbed:`)."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    return doc.get("study_testbed") or {}


def _check(c: Claim, path: Path) -> None:
    where = f"{path}: claim {c.id}"
    if c.kind not in KINDS:
        raise ValueError(f"{where}: kind {c.kind!r} is not one of {KINDS}")
    if c.comparison not in COMPARISONS:
        raise ValueError(f"{where}: comparison {c.comparison!r} is not one of {list(COMPARISONS)}")
    if c.comparison == "within" and not (
        isinstance(c.threshold, list) and len(c.threshold) == 2 and c.threshold[0] <= c.threshold[1]
    ):
        raise ValueError(f"{where}: 'within' needs threshold [low, high]")
    if c.comparison != "within" and not isinstance(c.threshold, int | float):
        raise ValueError(f"{where}: threshold must be a number")
    if c.kind in ("ratio", "trend") and not c.over:
        raise ValueError(f"{where}: kind {c.kind} needs 'over' (the parameter it runs over)")
    if c.kind == "ratio" and (c.numerator is None or c.denominator is None):
        raise ValueError(f"{where}: kind ratio needs 'numerator' and 'denominator'")
    if c.kind == "trend" and not c.levels:
        raise ValueError(f"{where}: kind trend needs 'levels'")
    if c.aggregate not in ("mean", "sum"):
        raise ValueError(f"{where}: aggregate must be mean or sum")
    if c.failed_points not in ("exclude", "violation"):
        raise ValueError(f"{where}: failed_points must be exclude or violation")
    if c.require not in ("all", "any"):
        raise ValueError(f"{where}: require must be all or any")
    if not isinstance(c.condition, dict):
        raise ValueError(f"{where}: condition must be a mapping of parameter to value")


# ---------------------------------------------------------------- selecting points


def param_columns(tidy: pd.DataFrame) -> list[str]:
    """Design parameters present in the table (contract ones plus any named in param_names)."""
    names = set(CONTRACT_PARAMS)
    if "param_names" in tidy.columns:
        for text in tidy["param_names"].dropna().unique():
            names.update(json.loads(text))
    return [c for c in tidy.columns if c in names]


def _same(a: Any, b: Any) -> bool:
    """Equality that treats 90, 90.0 and "90" as the same parameter value."""
    if _isnum(a) and _isnum(b):
        return float(a) == float(b)
    return str(a) == str(b)


def _isnum(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def match(series: pd.Series, spec: Any) -> pd.Series:
    """Rows of a column matching a condition: a value, a list of values, or {op: value}."""
    if isinstance(spec, dict):
        mask = pd.Series(True, index=series.index)
        for op, val in spec.items():
            if op not in CONDITION_OPS:
                raise ValueError(f"condition operator {op!r} is not one of {list(CONDITION_OPS)}")
            num = pd.to_numeric(series, errors="coerce")
            mask &= num.notna() & CONDITION_OPS[op](num, float(val))
        return mask
    values = spec if isinstance(spec, list) else [spec]
    return series.map(lambda x: any(_same(x, v) for v in values))


def select(tidy: pd.DataFrame, condition: dict[str, Any]) -> pd.DataFrame | None:
    """Rows matching every condition; None if a conditioned parameter is not in the table."""
    mask = pd.Series(True, index=tidy.index)
    for col, spec in condition.items():
        if col not in tidy.columns:
            return None
        mask &= match(tidy[col], spec)
    return tidy[mask]


def trial_values(rows: pd.DataFrame, metric: str) -> list[float]:
    """The metric's value of each point (trial) among rows, ordered by point id."""
    m = rows[rows["metric"] == metric].sort_values("point_id")
    return [float(v) for v in m["value"]]


# ---------------------------------------------------------------- evaluating


def _verdict(c: Claim, value: float) -> str:
    if value is None or math.isnan(value):
        return NOT_MEASURED
    return HOLDS if COMPARISONS[c.comparison](value, c.threshold) else FAILS


def _conclusive(c: Claim, low: float, high: float) -> bool | None:
    """Is the whole CI on one side of the threshold (or inside the 'within' band)?"""
    if math.isnan(low) or math.isnan(high) or c.comparison == "==":
        return None
    t = c.threshold
    if c.comparison == "within":
        return bool(t[0] <= low and high <= t[1]) or bool(high < t[0] or low > t[1])
    return bool(high < t or low > t) if c.comparison in ("<", ">") else bool(high <= t or low >= t)


def _threshold_text(c: Claim) -> str:
    t = c.threshold
    return f"[{t[0]:g}, {t[1]:g}]" if c.comparison == "within" else f"{t:g}"


def _group_label(keys: Sequence[str], values: Sequence[Any]) -> str:
    parts = [f"{k}={_fmt(v)}" for k, v in zip(keys, values, strict=True)]
    return ", ".join(parts) if parts else "all"


def _fmt(v: Any) -> str:
    if _isnum(v) and float(v).is_integer():
        return str(int(float(v)))
    return str(v)


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


def _failed_note(rows: pd.DataFrame) -> tuple[int, str]:
    """How many points failed, and a note saying so and how many were load-generator-limited
    (their rate fell short of the target: the claim was tested at a lower load)."""
    failed = rows.loc[rows["status"] != "ok", "point_id"].dropna().unique()
    notes = [f"{len(failed)} failed point(s)"] if len(failed) else []
    if "loadgen.limited" in rows.columns:
        lim = rows.loc[rows["loadgen.limited"].map(lambda v: str(v).lower() == "true"), "point_id"]
        n_lim, n_all = lim.nunique(), rows["point_id"].nunique()
        if n_lim:
            notes.append(f"load generator was the limit in {n_lim} of {n_all} point(s)")
    return len(failed), "; ".join(notes)


def _ok(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["status"] == "ok"]


def evaluate_threshold(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    results = []
    for label, g in _groups(rows, skip=(), always=_open_params(c)):
        nfailed, note = _failed_note(g)
        ok = _ok(g)
        vals = trial_values(ok, c.metric)
        base = {"claim_id": c.id, "group": label, "unit": c.unit, "comparison": c.comparison}
        base["threshold"] = _threshold_text(c)
        if not vals:
            # Every point of this configuration failed: that breaks a "no failure" claim.
            verdict = FAILS if nfailed and c.failed_points == "violation" else NOT_MEASURED
            results.append(ClaimResult(verdict=verdict, note=note or "no data", **base))
            continue
        if c.aggregate == "sum":
            value = float(np.sum(vals))
            total = float(np.sum(trial_values(ok, c.rate_of))) if c.rate_of else math.nan
            rate, low, high = wilson_interval(value, total) if c.rate_of else (math.nan,) * 3
            method = f"Wilson 95 % of {c.metric}/{c.rate_of}" if c.rate_of else ""
            extra = f"rate {rate:.4g} of {total:.0f} requests" if c.rate_of else ""
            verdict = _verdict(c, value)
            conclusive = None
        else:
            value, low, high = t_interval(vals)
            method = "Student t 95 % over trials" if len(vals) > 1 else "single trial: no CI"
            if c.unit == "fraction" and not math.isnan(low):
                low, high = max(low, 0.0), min(high, 1.0)  # a share cannot leave [0, 1]
                method += ", clipped to [0, 1]"
            extra = ""
            verdict = _verdict(c, value)
            conclusive = _conclusive(c, low, high)
        if nfailed and c.failed_points == "violation":
            verdict = FAILS
        results.append(
            ClaimResult(
                verdict=verdict,
                value=value,
                ci_low=low,
                ci_high=high,
                ci_method=method,
                ci_conclusive=conclusive,
                n_trials=len(vals),
                note="; ".join(x for x in (extra, note) if x),
                **base,
            )
        )
    return results


def _level(rows: pd.DataFrame, col: str, spec: Any, order: list[Any]) -> Any:
    """'first'/'second' name a level by sorted position; anything else is the value."""
    if spec in ("first", "second"):
        idx = 0 if spec == "first" else 1
        return order[idx] if len(order) > idx else None
    return spec


def evaluate_ratio(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    assert c.over is not None
    results = []
    for label, g in _groups(rows, skip=(c.over,), always=_open_params(c)):
        _nfailed, note = _failed_note(g)
        ok = _ok(g)
        levels = sorted(ok[c.over].dropna().unique(), key=_sort_key)
        num_level = _level(ok, c.over, c.numerator, levels)
        den_level = _level(ok, c.over, c.denominator, levels)
        base = {"claim_id": c.id, "group": label, "unit": c.unit, "comparison": c.comparison}
        base["threshold"] = _threshold_text(c)
        num = (
            trial_values(ok[match(ok[c.over], num_level)], c.metric)
            if num_level is not None
            else []
        )
        den = (
            trial_values(ok[match(ok[c.over], den_level)], c.metric)
            if den_level is not None
            else []
        )
        pair = f"{c.over}={_fmt(num_level)} / {c.over}={_fmt(den_level)}"
        if not num or not den or (num_level is not None and _same(num_level, den_level)):
            if c.numerator in ("first", "second") or c.denominator in ("first", "second"):
                missing = f"needs two levels of {c.over}, has {[_fmt(v) for v in levels]}"
            else:
                missing = f"needs {c.over}={c.numerator} and {c.over}={c.denominator}"
            results.append(
                ClaimResult(
                    verdict=NOT_MEASURED, note="; ".join(x for x in (missing, note) if x), **base
                )
            )
            continue
        value, low, high = bootstrap_interval([num, den], _ratio_of_means)
        small = min(len(num), len(den)) < 2
        results.append(
            ClaimResult(
                verdict=_verdict(c, value),
                value=value,
                ci_low=low,
                ci_high=high,
                ci_method="single trial: no CI" if small else "bootstrap 95 % over trials",
                ci_conclusive=_conclusive(c, low, high),
                n_trials=min(len(num), len(den)),
                note="; ".join(x for x in (pair, note) if x),
                **base,
            )
        )
    return results


def evaluate_trend(c: Claim, rows: pd.DataFrame) -> list[ClaimResult]:
    assert c.over is not None and c.levels is not None
    results = []
    for label, g in _groups(rows, skip=(c.over,), always=_open_params(c)):
        _nfailed, note = _failed_note(g)
        ok = _ok(g)
        base = {"claim_id": c.id, "group": label, "unit": "ratio", "comparison": c.comparison}
        base["threshold"] = _threshold_text(c)
        series = [(lv, trial_values(ok[match(ok[c.over], lv)], c.metric)) for lv in c.levels]
        present = [(lv, v) for lv, v in series if v]
        if len(present) < c.min_levels:
            need = f"needs at least {c.min_levels} of {c.over} in {c.levels}"
            got = f"has {[_fmt(lv) for lv, _ in present]}"
            results.append(
                ClaimResult(
                    verdict=NOT_MEASURED, note="; ".join(x for x in (need, got, note) if x), **base
                )
            )
            continue
        groups = [v for _, v in present]
        value, low, high = bootstrap_interval(groups, _max_step)
        means = [float(np.mean(v)) for v in groups]
        rises = means[-1] > means[0]
        no_drop = all(b >= a * (1.0 - c.max_drop) for a, b in itertools.pairwise(means))
        gradual = COMPARISONS[c.comparison](value, c.threshold)
        verdict = HOLDS if rises and no_drop and gradual else FAILS
        shape = ", ".join(f"{_fmt(lv)}: {m:.4g}" for (lv, _), m in zip(present, means, strict=True))
        why = (
            []
            if verdict == HOLDS
            else [
                w
                for w, bad in (
                    ("does not rise", not rises),
                    (f"falls by more than {c.max_drop:.0%}", not no_drop),
                    (f"a step above {c.threshold}x", not gradual),
                )
                if bad
            ]
        )
        results.append(
            ClaimResult(
                verdict=verdict,
                value=value,
                ci_low=low,
                ci_high=high,
                ci_method="bootstrap 95 % over trials"
                if min(len(v) for v in groups) > 1
                else "single trial: no CI",
                ci_conclusive=_conclusive(c, low, high),
                n_trials=min(len(v) for v in groups),
                note="; ".join(x for x in (f"{c.metric} by {c.over}: {shape}", *why, note) if x),
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


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, float(v)) if _isnum(v) else (1, str(v))


EVALUATORS = {"threshold": evaluate_threshold, "ratio": evaluate_ratio, "trend": evaluate_trend}


def evaluate_claim(c: Claim, tidy: pd.DataFrame) -> list[ClaimResult]:
    """Per-configuration verdicts of one claim; one 'not measured' row if nothing matches."""
    base = {"claim_id": c.id, "unit": c.unit, "comparison": c.comparison}
    base["threshold"] = _threshold_text(c)
    rows = select(tidy, c.condition) if len(tidy) else None
    if rows is None:
        missing = [k for k in c.condition if k not in tidy.columns]
        return [
            ClaimResult(group="all", verdict=NOT_MEASURED, note=f"no column(s) {missing}", **base)
        ]
    if rows.empty:
        return [
            ClaimResult(
                group="all", verdict=NOT_MEASURED, note="no point matches the condition", **base
            )
        ]
    return EVALUATORS[c.kind](c, rows)


def overall(c: Claim, results: list[ClaimResult]) -> str:
    """One verdict per claim from its groups (require: all or any)."""
    measured = [r.verdict for r in results if r.verdict != NOT_MEASURED]
    if not measured:
        return NOT_MEASURED
    if c.require == "any":
        return HOLDS if HOLDS in measured else FAILS
    return HOLDS if all(v == HOLDS for v in measured) else FAILS


def evaluate(claims: list[Claim], tidy: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(details, summary): one row per claim and configuration, and one row per claim."""
    details, summary = [], []
    for c in claims:
        res = evaluate_claim(c, tidy)
        details.extend(asdict(r) for r in res)
        measured = [r for r in res if r.verdict != NOT_MEASURED]
        summary.append(
            {
                "claim_id": c.id,
                "text": c.text.strip(),
                "source": c.source,
                "published": c.published,
                "metric": c.metric,
                "comparison": c.comparison,
                "threshold": _threshold_text(c),
                "verdict": overall(c, res),
                "groups_measured": len(measured),
                "groups_holding": sum(r.verdict == HOLDS for r in measured),
                "operationalisation": " ".join(c.operationalisation.split()),
            }
        )
    return pd.DataFrame(details), pd.DataFrame(summary)
