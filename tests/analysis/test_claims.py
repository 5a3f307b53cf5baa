"""The claims check on crafted tidy tables, at the boundaries.

These tables are made up to test the evaluator's rules (thresholds, missing data, CIs);
they are never presented as measurements. The check on real data is in test_real_sweep.py.
"""

import math
from pathlib import Path

import pandas as pd
import pytest

from analysis.claims import (
    FAILS,
    HOLDS,
    NOT_MEASURED,
    Claim,
    evaluate,
    evaluate_claim,
    load_claims,
    overall,
)
from analysis.stats import t_interval
from sshbench import paths

STUDY = {"pattern": "sustained", "library": "ssh2", "connections": "per-request"}


def crafted(points: list[dict]) -> pd.DataFrame:
    """A tidy table: each dict is one point (params + status + {metric: value})."""
    rows = []
    for i, p in enumerate(points):
        p = dict(p)
        metrics = p.pop("metrics")
        base = {
            "sweep": "crafted",
            "point_id": p.pop("point_id", f"pt{i}"),
            "status": p.pop("status", "ok"),
            **STUDY,
            "host": "taco",
            "command": "uptime",
            "profile": "tuned",
            "trial": 0,
            **p,
        }
        for m, v in metrics.items():
            rows.append({**base, "metric": m, "value": v, "unit": "", "quantile": None})
    return pd.DataFrame(rows)


def claim(**kw) -> Claim:
    base = dict(id="c", text="t", source="s", kind="threshold", metric="m", comparison="<=")
    base.update(threshold=1000, condition={"rps": 90, **STUDY})
    base.update(kw)
    return Claim(**base)


def test_holds_exactly_at_threshold_with_le() -> None:
    tidy = crafted([{"rps": 90, "metrics": {"m": 1000.0}}])
    (r,) = evaluate_claim(claim(comparison="<="), tidy)
    assert r.verdict == HOLDS and r.value == 1000.0


def test_strict_comparison_fails_exactly_at_threshold() -> None:
    tidy = crafted([{"rps": 90, "metrics": {"m": 1000.0}}])
    (r,) = evaluate_claim(claim(comparison="<"), tidy)
    assert r.verdict == FAILS


def test_ge_holds_at_threshold_and_fails_just_below() -> None:
    c = claim(comparison=">=", threshold=0.85)
    (at,) = evaluate_claim(c, crafted([{"rps": 90, "metrics": {"m": 0.85}}]))
    (below,) = evaluate_claim(c, crafted([{"rps": 90, "metrics": {"m": 0.8499}}]))
    assert at.verdict == HOLDS and below.verdict == FAILS


def test_not_measured_when_the_rate_is_missing() -> None:
    tidy = crafted([{"rps": 10, "metrics": {"m": 1.0}}, {"rps": 50, "metrics": {"m": 1.0}}])
    (r,) = evaluate_claim(claim(), tidy)
    assert r.verdict == NOT_MEASURED
    assert "no point matches" in r.note
    assert overall(claim(), [r]) == NOT_MEASURED


def test_not_measured_when_the_metric_is_missing() -> None:
    tidy = crafted([{"rps": 90, "metrics": {"other": 1.0}}])
    (r,) = evaluate_claim(claim(), tidy)
    assert r.verdict == NOT_MEASURED


def test_not_measured_when_a_parameter_column_is_missing() -> None:
    tidy = crafted([{"rps": 90, "metrics": {"m": 1.0}}])
    (r,) = evaluate_claim(claim(condition={"rps": 90, "burst_size": 8}), tidy)
    assert r.verdict == NOT_MEASURED and "burst_size" in r.note


def test_ci_is_student_t_over_trials() -> None:
    vals = [900.0, 950.0, 1010.0, 980.0]
    tidy = crafted([{"rps": 90, "trial": i, "metrics": {"m": v}} for i, v in enumerate(vals)])
    (r,) = evaluate_claim(claim(), tidy)
    mean, low, high = t_interval(vals)
    assert (r.value, r.ci_low, r.ci_high) == pytest.approx((mean, low, high))
    assert r.n_trials == 4 and r.verdict == HOLDS
    assert r.ci_conclusive is False  # the CI reaches above 1000
    assert "Student t" in r.ci_method


def test_single_trial_has_no_ci_but_a_verdict() -> None:
    (r,) = evaluate_claim(claim(), crafted([{"rps": 90, "metrics": {"m": 5.0}}]))
    assert r.verdict == HOLDS and math.isnan(r.ci_low) and r.ci_conclusive is None


def test_configurations_are_evaluated_separately_and_all_must_hold() -> None:
    tidy = crafted(
        [
            {"rps": 90, "host": "taco", "metrics": {"m": 500.0}},
            {"rps": 90, "host": "jetstream", "metrics": {"m": 1500.0}},
        ]
    )
    c = claim()
    res = evaluate_claim(c, tidy)
    assert {r.group: r.verdict for r in res} == {"host=jetstream": FAILS, "host=taco": HOLDS}
    assert overall(c, res) == FAILS


def test_failed_points_are_left_out_or_break_a_zero_failure_claim() -> None:
    pts = [
        {"rps": 100, "trial": 0, "metrics": {"failures": 0.0, "requests": 1000.0}},
        {"rps": 100, "trial": 1, "status": "failed", "metrics": {"failures": 0.0, "requests": 0.0}},
    ]
    zero = claim(
        metric="failures", aggregate="sum", rate_of="requests", comparison="==", threshold=0
    )
    zero.condition = {"rps": 100, **STUDY}
    (r,) = evaluate_claim(zero, crafted(pts))
    assert r.verdict == HOLDS  # failed points excluded by default
    zero.failed_points = "violation"
    (r,) = evaluate_claim(zero, crafted(pts))
    assert r.verdict == FAILS and "1 failed point" in r.note
    assert r.ci_low == 0.0 and 0 < r.ci_high < 0.01  # Wilson interval of 0 / 1000
    (r,) = evaluate_claim(zero, crafted(pts[1:]))  # the only point failed as a whole
    assert r.verdict == FAILS
    zero.failed_points = "exclude"
    (r,) = evaluate_claim(zero, crafted(pts[1:]))
    assert r.verdict == NOT_MEASURED


def test_ratio_claim_with_bootstrap_ci_and_missing_level() -> None:
    pts = [{"rps": 100, "trial": t, "metrics": {"m": 100.0 + t}} for t in range(3)]
    pts += [{"rps": 500, "trial": t, "metrics": {"m": 300.0 + t}} for t in range(3)]
    c = claim(kind="ratio", over="rps", numerator=500, denominator=100, comparison=">")
    c.threshold, c.condition = 2.0, dict(STUDY)
    (r,) = evaluate_claim(c, crafted(pts))
    assert r.verdict == HOLDS and r.value == pytest.approx(301 / 101)
    assert r.ci_low <= r.value <= r.ci_high and "bootstrap" in r.ci_method
    (r,) = evaluate_claim(c, crafted(pts[:3]))
    assert r.verdict == NOT_MEASURED and "rps=500" in r.note


def test_within_band_and_named_levels() -> None:
    pts = [
        {"rps": 10, "host": "jetstream", "metrics": {"m": 100.0}},
        {"rps": 10, "host": "taco", "metrics": {"m": 125.0}},
    ]
    c = claim(kind="ratio", over="host", numerator="first", denominator="second")
    c.comparison, c.threshold, c.condition = "within", [0.8, 1.25], {"rps": {"<=": 100}, **STUDY}
    (r,) = evaluate_claim(c, crafted(pts))
    assert r.value == pytest.approx(0.8) and r.verdict == HOLDS  # the band is inclusive
    (r,) = evaluate_claim(c, crafted(pts[:1]))
    assert r.verdict == NOT_MEASURED  # one host: no comparison


def test_trend_rises_gradually_or_not() -> None:
    def pts(values):
        return [
            {"rps": r, "metrics": {"m": v}} for r, v in zip([10, 50, 60, 90], values, strict=False)
        ]

    c = claim(kind="trend", over="rps", levels=[10, 50, 60, 90], min_levels=3)
    c.max_drop, c.comparison, c.threshold, c.condition = 0.10, "<=", 2.0, dict(STUDY)
    (r,) = evaluate_claim(c, crafted(pts([100, 120, 130, 200])))
    assert r.verdict == HOLDS and r.value == pytest.approx(200 / 130)
    (r,) = evaluate_claim(c, crafted(pts([100, 120, 130, 261])))  # a step above 2x
    assert r.verdict == FAILS
    (r,) = evaluate_claim(c, crafted(pts([100, 80, 130, 150])))  # falls by 20 %
    assert r.verdict == FAILS and "falls" in r.note
    (r,) = evaluate_claim(c, crafted(pts([100, 120])))  # only 2 of 4 rates
    assert r.verdict == NOT_MEASURED


def test_the_paper_claims_file_loads_and_every_claim_is_not_measured_on_an_empty_table() -> None:
    claims = load_claims(paths.PAPER_DIR / "claims.yaml")
    assert len(claims) == 7
    qualitative = [c for c in claims if c.kind != "threshold" or c.comparison == "=="]
    assert all(c.operationalisation.strip() for c in qualitative)
    _details, summary = evaluate(claims, pd.DataFrame(columns=["point_id", "metric", "value"]))
    assert set(summary["verdict"]) == {NOT_MEASURED}


HEAD = "claims: [{id: x, text: t, source: s, metric: m, "


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEAD + "kind: magic, comparison: '<', threshold: 1}]", "kind 'magic'"),
        (HEAD + "kind: threshold, comparison: '~', threshold: 1}]", "comparison '~'"),
        (HEAD + "kind: ratio, comparison: '<', threshold: 1}]", "needs 'over'"),
        (HEAD + "kind: threshold, comparison: within, threshold: 1}]", "within"),
        ("claims: [{id: x, colour: red}]", "unknown field"),
        ("nothing: here", "claims:"),
    ],
)
def test_bad_claims_file_names_the_claim_and_field(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "claims.yaml"
    f.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        load_claims(f)
    assert str(f) in str(err.value)


def test_ci_of_a_fraction_stays_within_0_and_1() -> None:
    vals = [0.0, 0.02]
    tidy = crafted([{"rps": 90, "trial": i, "metrics": {"m": v}} for i, v in enumerate(vals)])
    c = claim(comparison=">=", threshold=0.99, unit="fraction")
    (r,) = evaluate_claim(c, tidy)
    assert r.ci_low == 0.0 and r.ci_high == pytest.approx(t_interval(vals)[2])
    assert r.verdict == FAILS and "clipped" in r.ci_method
