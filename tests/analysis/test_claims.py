"""The claims check on crafted tidy tables, at the boundaries of each verdict.

These tables are made up to test the evaluator's rules (thresholds, trials, CIs, missing
levels, limits, broken records); they are never presented as measurements. The check on
real data is in test_real_sweep.py.
"""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from analysis.claims import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    MIN_TRIALS,
    NOT_MEASURED,
    NOT_TESTABLE,
    PARTIAL,
    VERDICT_RULES,
    VERDICTS,
    Claim,
    evaluate,
    evaluate_claim,
    overall,
)
from analysis.claims_spec import load_claims
from analysis.stats import t_interval
from sshbench import paths

STUDY = {"pattern": "sustained", "library": "ssh2", "connections": "per-request"}


def crafted(points: list[dict]) -> pd.DataFrame:
    """A tidy table: each dict is one point (params + status + point facts + {metric: value})."""
    rows = []
    for i, p in enumerate(points):
        p = dict(p)
        metrics = p.pop("metrics")
        base = {
            "sweep": "crafted",
            "point_id": p.pop("point_id", f"pt{i:03d}"),
            "status": p.pop("status", "ok"),
            "integrity": "ok",
            "limited_by": "[]",
            "saturation": "",
            "limit_kind": "none",
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


def trials(values: list[float], metric: str = "m", **params) -> list[dict]:
    """One point per value, as trials 0, 1, ... of one configuration."""
    params.setdefault("rps", 90)
    return [{**params, "trial": t, "metrics": {metric: v}} for t, v in enumerate(values)]


def claim(**kw) -> Claim:
    base = dict(id="c", text="t", source="s", kind="threshold", metric="m", comparison="<=")
    base.update(threshold=1000, condition={"rps": 90, **STUDY})
    base.update(kw)
    return Claim(**base)


def test_six_states_each_have_a_rule() -> None:
    assert len(VERDICTS) == 6 and set(VERDICT_RULES) == set(VERDICTS)
    assert NOT_MEASURED == "not measured"


def test_holds_when_three_trials_have_the_whole_ci_below_the_bound() -> None:
    (r,) = evaluate_claim(claim(), crafted(trials([500.0, 510.0, 490.0])))
    assert r.verdict == HOLDS and r.n_trials == 3 and r.ci_high < 1000


def test_does_not_hold_when_the_whole_ci_is_above() -> None:
    (r,) = evaluate_claim(claim(), crafted(trials([1500.0, 1510.0, 1490.0])))
    assert r.verdict == FAILS and r.ci_low > 1000 and r.estimate == FAILS


def test_one_trial_is_inconclusive_and_still_shows_its_estimate() -> None:
    (r,) = evaluate_claim(claim(), crafted(trials([5.0])))
    assert r.verdict == INCONCLUSIVE and r.value == 5.0 and r.estimate == HOLDS
    assert math.isnan(r.ci_low) and "fewer than 3" in r.note
    assert overall(claim(), [r]) == INCONCLUSIVE


def test_two_trials_far_from_the_bound_are_still_inconclusive() -> None:
    assert MIN_TRIALS == 3
    (r,) = evaluate_claim(claim(), crafted(trials([5.0, 6.0])))
    assert r.verdict == INCONCLUSIVE


def test_a_ci_straddling_the_bound_is_inconclusive() -> None:
    vals = [900.0, 950.0, 1010.0, 980.0]
    (r,) = evaluate_claim(claim(), crafted(trials(vals)))
    mean, low, high = t_interval(vals)
    assert (r.value, r.ci_low, r.ci_high) == pytest.approx((mean, low, high))
    assert low < 1000 < high
    assert r.verdict == INCONCLUSIVE and r.estimate == HOLDS and "straddles" in r.note


def test_strict_comparison_at_the_bound() -> None:
    (r,) = evaluate_claim(claim(comparison="<"), crafted(trials([1000.0] * 3)))
    assert r.verdict == FAILS  # a zero-width CI exactly at the bound of "<"
    (r,) = evaluate_claim(claim(comparison="<="), crafted(trials([1000.0] * 3)))
    assert r.verdict == HOLDS


def test_a_level_the_claim_names_missing_makes_it_partially_measured() -> None:
    c = claim(metric="failures", aggregate="sum", rate_of="requests", comparison="==")
    c.threshold, c.condition = 0, {"rps": [10, 100, 500], **STUDY}
    pts = [
        {"rps": 10, "trial": t, "metrics": {"failures": 0.0, "requests": 600.0}} for t in range(3)
    ]
    details, summary = evaluate([c], crafted(pts))
    assert list(details["verdict"]) == [HOLDS]  # rps=10 on its own holds
    row = summary.iloc[0]
    assert row["verdict"] == PARTIAL
    assert row["levels_measured"] == "rps 10" and row["levels_missing"] == "rps 100, 500"
    assert row["rule"] == VERDICT_RULES[PARTIAL]


def test_a_counterexample_stands_even_with_levels_missing() -> None:
    c = claim(metric="failures", aggregate="sum", rate_of="requests", comparison="==")
    c.threshold, c.condition = 0, {"rps": [10, 100, 500], **STUDY}
    pts = [
        {"rps": 10, "trial": t, "metrics": {"failures": 2.0, "requests": 600.0}} for t in range(3)
    ]
    _, summary = evaluate([c], crafted(pts))
    assert summary.iloc[0]["verdict"] == FAILS


def test_zero_failures_needs_three_trials_and_enough_requests() -> None:
    c = claim(metric="failures", aggregate="sum", rate_of="requests", comparison="==")
    c.threshold, c.condition = 0, {"rps": 100, **STUDY}

    def run(n_trials: int, requests: float, failures: float = 0.0):
        pts = [
            {"rps": 100, "trial": t, "metrics": {"failures": failures, "requests": requests}}
            for t in range(n_trials)
        ]
        (r,) = evaluate_claim(c, crafted(pts))
        return r

    r = run(3, 1000.0)
    assert r.verdict == HOLDS and r.ci_low == 0.0 and r.ci_high < 0.01
    assert run(2, 1000.0).verdict == INCONCLUSIVE  # too few trials
    few = run(3, 20.0)  # 60 requests cannot exclude a 1 % failure rate
    assert few.verdict == INCONCLUSIVE and "exclude" in few.note
    assert run(3, 1000.0, failures=1.0).verdict == FAILS


def _zero_failure_claim() -> Claim:
    c = claim(metric="failures", aggregate="sum", rate_of="requests", comparison="==")
    c.threshold, c.condition = 0, {"rps": 100, **STUDY}
    return c


def _three_clean_trials() -> list[dict]:
    return [
        {"rps": 100, "trial": t, "metrics": {"failures": 0.0, "requests": 1000.0}} for t in range(3)
    ]


def test_a_point_the_system_under_test_failed_counts_against_every_claim() -> None:
    """api_down / sshd_died: does not hold, for a count claim and a threshold claim alike."""
    for cls in ("api_down", "sshd_died"):
        pts = _three_clean_trials()
        pts.append(
            {
                "rps": 100,
                "trial": 3,
                "status": "failed",
                "error_class": cls,
                "metrics": {"point_ok": 0.0},
            }
        )
        (r,) = evaluate_claim(_zero_failure_claim(), crafted(pts))
        assert r.verdict == FAILS and f"1 {cls}" in r.note and "system under test" in r.note
        pts = trials([500.0, 510.0, 490.0])
        pts.append(
            {
                "rps": 90,
                "trial": 3,
                "status": "failed",
                "error_class": cls,
                "metrics": {"point_ok": 0.0},
            }
        )
        (r,) = evaluate_claim(claim(), crafted(pts))
        assert r.verdict == FAILS, cls


def test_a_point_the_harness_failed_is_not_evidence() -> None:
    """testbed_error & co. after the rerun: inconclusive, with the reason and the reruns."""
    for cls in ("testbed_error", "locust_error", "worker_lost", "internal_error"):
        pts = _three_clean_trials()
        pts.append(
            {
                "rps": 100,
                "trial": 3,
                "status": "failed",
                "error_class": cls,
                "attempts": json.dumps([{"error_class": cls, "error": "x"}]),
                "metrics": {"point_ok": 0.0},
            }
        )
        (r,) = evaluate_claim(_zero_failure_claim(), crafted(pts))
        assert r.verdict == INCONCLUSIVE and f"1 {cls}" in r.note and "harness" in r.note
        assert "1 earlier failed attempt(s) rerun" in r.note


def test_a_configuration_whose_points_all_failed_is_partially_measured() -> None:
    pts = trials([500.0, 510.0, 490.0], host="taco")
    pts += [
        {"rps": 90, "host": "jetstream", "trial": t, "status": "failed",
         "error_class": "testbed_error", "point_id": f"j{t}", "metrics": {"point_ok": 0.0}}
        for t in range(3)
    ]  # fmt: skip
    details, summary = evaluate([claim()], crafted(pts))
    got = dict(zip(details["group"], details["verdict"], strict=True))
    assert got == {"host=jetstream": PARTIAL, "host=taco": HOLDS}
    assert summary.iloc[0]["verdict"] == PARTIAL  # never silently absent
    # the same, failed by the system under test: counts against the claim
    for p in pts[3:]:
        p["error_class"] = "sshd_died"
    _, summary = evaluate([claim()], crafted(pts))
    assert summary.iloc[0]["verdict"] == FAILS


def test_unknown_limits_are_inconclusive() -> None:
    pts = trials([500.0, 510.0, 490.0])
    pts[0]["limit_kind"] = "unknown"
    (r,) = evaluate_claim(claim(), crafted(pts))
    assert r.verdict == INCONCLUSIVE and "counters" in r.note


def test_an_environment_limited_point_makes_the_claim_not_testable_here() -> None:
    pts = trials([500.0, 510.0, 490.0])
    pts[1].update(limit_kind="environment", limited_by='["machine_cpu"]')
    details, summary = evaluate([claim()], crafted(pts))
    (r,) = details.itertuples()
    assert r.verdict == NOT_TESTABLE and "machine_cpu" in r.note
    assert r.value == pytest.approx(500.0)  # the estimate is still shown
    assert summary.iloc[0]["verdict"] == NOT_TESTABLE


def test_a_saturated_host_is_a_finding_not_an_untestable_point() -> None:
    pts = trials([3000.0, 3100.0, 2900.0])
    for p in pts:
        p.update(limit_kind="saturated", limited_by='["host_cpu:taco"]')
        p["saturation"] = "saturated: host_cpu:taco"
    (r,) = evaluate_claim(claim(), crafted(pts))
    assert r.verdict == FAILS
    assert "3 of 3 point(s) saturated: host_cpu:taco" in r.note


def test_a_point_with_a_broken_record_is_left_out_and_said_so() -> None:
    pts = trials([500.0, 510.0, 490.0, 99999.0])
    pts[3]["integrity"] = "broken: 3 sent requests have no row"
    details, summary = evaluate([claim()], crafted(pts))
    (r,) = details.itertuples()
    assert r.verdict == HOLDS and r.n_trials == 3  # the broken point's 99999 is not in it
    assert "1 point(s) with a broken record left out" in r.note
    assert "3 sent requests have no row" in summary.iloc[0]["note"]


def test_not_measured_when_nothing_matches() -> None:
    tidy = crafted(trials([1.0], rps=10) + trials([1.0], rps=50))
    (r,) = evaluate_claim(claim(), tidy)
    assert r.verdict == NOT_MEASURED and "no point matches" in r.note
    assert overall(claim(), [r]) == NOT_MEASURED
    (r,) = evaluate_claim(claim(), crafted(trials([1.0], metric="other")))
    assert r.verdict == NOT_MEASURED
    (r,) = evaluate_claim(claim(condition={"rps": 90, "burst_size": 8}), crafted(trials([1.0])))
    assert r.verdict == NOT_MEASURED and "burst_size" in r.note


def test_new_axes_default_to_the_studys_setup_when_the_sweep_lacks_them() -> None:
    c = claim(condition={"rps": 90, "host_cpus": 2, "client_tcp": "default", **STUDY})
    (r,) = evaluate_claim(c, crafted(trials([500.0, 510.0, 490.0])))
    assert r.verdict == HOLDS
    c.condition["host_cpus"] = 1
    (r,) = evaluate_claim(c, crafted(trials([500.0, 510.0, 490.0])))
    assert r.verdict == NOT_MEASURED


def test_configurations_are_evaluated_separately_and_all_must_hold() -> None:
    tidy = crafted(
        trials([500.0, 510.0, 490.0], host="taco")
        + [dict(p, point_id=f"j{i}") for i, p in enumerate(trials([1500.0] * 3, host="jetstream"))]
    )
    res = evaluate_claim(claim(), tidy)
    assert {r.group: r.verdict for r in res} == {"host=jetstream": FAILS, "host=taco": HOLDS}
    assert overall(claim(), res) == FAILS


def test_ratio_with_a_t_ci_on_logs_and_a_missing_level() -> None:
    pts = [{"rps": 100, "trial": t, "metrics": {"m": 100.0 + t}} for t in range(3)]
    pts += [{"rps": 500, "trial": t, "metrics": {"m": 300.0 + t}} for t in range(3)]
    c = claim(kind="ratio", over="rps", numerator=500, denominator=100, comparison=">")
    c.threshold, c.condition = 2.0, dict(STUDY)
    (r,) = evaluate_claim(c, crafted(pts))
    geo = math.exp(sum(math.log(300.0 + t) - math.log(100.0 + t) for t in range(3)) / 3)
    assert r.verdict == HOLDS and r.value == pytest.approx(geo)
    assert r.ci_low <= r.value <= r.ci_high and "Welch t" in r.ci_method
    details, summary = evaluate([c], crafted(pts[:3]))
    assert details.iloc[0]["verdict"] == NOT_MEASURED and "rps=500" in details.iloc[0]["note"]
    assert summary.iloc[0]["levels_missing"] == "rps 500"


def test_within_band_needs_the_ci_inside_it() -> None:
    c = claim(kind="ratio", over="host", numerator="jetstream", denominator="taco")
    c.comparison, c.threshold, c.condition = "within", [0.8, 1.25], {"rps": {"<=": 100}, **STUDY}

    def pts(jet: list[float], taco: list[float]) -> pd.DataFrame:
        a = trials(jet, rps=10, host="jetstream")
        b = trials(taco, rps=10, host="taco")
        return crafted([dict(p, point_id=f"p{i}") for i, p in enumerate(a + b)])

    (r,) = evaluate_claim(c, pts([100.0, 101.0, 99.0], [100.0, 100.5, 99.5]))
    assert r.verdict == HOLDS
    (r,) = evaluate_claim(c, pts([200.0, 201.0, 199.0], [100.0, 100.5, 99.5]))
    assert r.verdict == FAILS
    (r,) = evaluate_claim(c, pts([80.0, 130.0, 100.0], [100.0, 100.5, 99.5]))
    assert r.verdict == INCONCLUSIVE  # the t CI reaches out of the band
    (r,) = evaluate_claim(c, crafted(trials([100.0], rps=10, host="taco")))
    assert r.verdict == NOT_MEASURED  # one host: no comparison


def test_trend_rises_gradually_or_not() -> None:
    def pts(values, n=3):
        out = []
        for r, v in zip([10, 50, 60, 90], values, strict=False):
            out += [{"rps": r, "trial": t, "metrics": {"m": v + t}} for t in range(n)]
        return crafted(out)

    c = claim(kind="trend", over="rps", levels=[10, 50, 60, 90], min_levels=3)
    c.max_drop, c.comparison, c.threshold, c.condition = 0.10, "<=", 2.0, dict(STUDY)
    (r,) = evaluate_claim(c, pts([100, 120, 130, 200]))
    assert r.verdict == HOLDS
    (r,) = evaluate_claim(c, pts([100, 120, 130, 400]))  # a step well above 2x
    assert r.verdict == FAILS
    (r,) = evaluate_claim(c, pts([100, 80, 130, 150]))  # falls by 20 %
    assert r.verdict == FAILS and "falls" in r.note
    (r,) = evaluate_claim(c, pts([100, 120, 130, 200], n=1))
    assert r.verdict == INCONCLUSIVE
    (r,) = evaluate_claim(c, pts([100, 120]))  # only 2 of 4 rates
    assert r.verdict == NOT_MEASURED
    # 3 of 4 rates, the trend failing on them: a missing rate could change a trend
    details, summary = evaluate([c], pts([100, 120, 400]))
    assert details.iloc[0]["verdict"] == FAILS and summary.iloc[0]["verdict"] == PARTIAL
    assert summary.iloc[0]["levels_missing"] == "rps 90"


def test_the_paper_claims_file_loads_and_every_claim_is_not_measured_on_an_empty_table() -> None:
    claims = load_claims(paths.PAPER_DIR / "claims.yaml")
    assert len(claims) == 14
    new = {"burst_default_refuses_tuned_accepts", "tuned_improves_on_default"}
    new |= {"tuned_succeeds_at_higher_rates", "memory_not_ssh_first_limit"}
    new |= {"ssh2_sftp_read_17x_faster_than_paramiko", "ssh2_suits_files_api"}
    assert new <= {c.id for c in claims}
    assert all(c.operationalisation.strip() for c in claims)
    metrics = {c.metric for c in claims}
    assert not any(m.startswith("response_time") for m in metrics)  # contract v2 names
    _details, summary = evaluate(claims, pd.DataFrame(columns=["point_id", "metric", "value"]))
    assert set(summary["verdict"]) == {NOT_MEASURED}


def test_the_claims_file_header_states_the_six_verdicts() -> None:
    head = (paths.PAPER_DIR / "claims.yaml").read_text().split("study_testbed:")[0]
    for v in VERDICTS:
        assert f"#   {v}" in head, v


HEAD = "claims: [{id: x, text: t, source: s, metric: m, "


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEAD + "kind: magic, comparison: '<', threshold: 1}]", "kind 'magic'"),
        (HEAD + "kind: threshold, comparison: '~', threshold: 1}]", "comparison '~'"),
        (HEAD + "kind: ratio, comparison: '<', threshold: 1}]", "needs 'over'"),
        (HEAD + "kind: threshold, comparison: within, threshold: 1}]", "within"),
        (HEAD + "kind: threshold, comparison: '<', threshold: 1, aggregate: sum}]", "rate_of"),
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
    vals = [0.0, 0.02, 0.01]
    c = claim(comparison=">=", threshold=0.99, unit="fraction")
    (r,) = evaluate_claim(c, crafted(trials(vals)))
    assert r.ci_low == 0.0 and r.ci_high == pytest.approx(t_interval(vals)[2])
    assert r.verdict == FAILS and "clipped" in r.ci_method


def _profiles(default: list[float], tuned: list[float], metric: str, **params) -> list[dict]:
    pts = []
    for prof, vals in (("default", default), ("tuned", tuned)):
        for t, v in enumerate(vals):
            pts.append({**params, "profile": prof, "trial": t, "metrics": {metric: v},
                        "point_id": f"{prof}-{params.get('rps', 0)}-{t}"})  # fmt: skip
    return pts


def test_difference_with_a_welch_ci_and_a_denominator_that_must_show_none() -> None:
    c = claim(kind="difference", metric="failure_rate", over="profile", numerator="default")
    c.denominator, c.comparison, c.threshold, c.condition = "tuned", ">", 0, dict(STUDY)
    c.denominator_zero = True
    (r,) = evaluate_claim(c, crafted(_profiles([0.25, 0.3, 0.27], [0.0] * 3, "failure_rate")))
    assert r.verdict == HOLDS and r.value == pytest.approx(0.82 / 3)
    assert 0 < r.ci_low < r.value < r.ci_high and "Welch" in r.ci_method
    (r,) = evaluate_claim(c, crafted(_profiles([0.25, 0.3, 0.27], [0, 0.01, 0], "failure_rate")))
    assert r.verdict == FAILS and "1 of 3 trial(s) above 0" in r.note
    (r,) = evaluate_claim(c, crafted(_profiles([0.25, 0.3], [0.0] * 2, "failure_rate")))
    assert r.verdict == INCONCLUSIVE
    # neither fails at 10 RPS, default fails at 50: with require any the claim holds
    c.require, c.condition = "any", {k: v for k, v in STUDY.items()}
    pts = _profiles([0.0] * 3, [0.0] * 3, "failure_rate", rps=10)
    pts += _profiles([0.25, 0.3, 0.27], [0.0] * 3, "failure_rate", rps=50)
    details, summary = evaluate([c], crafted(pts))
    got = dict(zip(details["group"], details["verdict"], strict=True))
    assert got == {"rps=10": FAILS, "rps=50": HOLDS} and summary.iloc[0]["verdict"] == HOLDS


def test_first_limit_memory_before_ssh() -> None:
    c = claim(kind="first_limit", metric="host_mem_peak_mib", over="rps", comparison=">=")
    c.limit_metric, c.rival_metric, c.threshold, c.condition = (
        "host_mem_limit_mib",
        "refused_share",
        0.9,
        dict(STUDY),
    )

    def pts(peaks: list[float], refused: list[float]) -> pd.DataFrame:
        out = []
        for rps, peak, ref in zip((10, 100, 500), peaks, refused, strict=True):
            for t in range(3):
                m = {"host_mem_peak_mib": peak + t, "host_mem_limit_mib": 2048.0}
                out.append({"rps": rps, "trial": t, "metrics": {**m, "refused_share": ref}})
        return crafted(out)

    (r,) = evaluate_claim(c, pts([400, 900, 1950], [0, 0, 0]))
    assert r.verdict == HOLDS and "first at rps=500" in r.note and "500: 1952 of 2048" in r.note
    (r,) = evaluate_claim(c, pts([400, 900, 1950], [0, 0.2, 0.3]))
    assert r.verdict == FAILS and "limits first" in r.note
    (r,) = evaluate_claim(c, pts([400, 500, 600], [0, 0, 0]))
    assert r.verdict == INCONCLUSIVE and "neither" in r.note


def test_equal_by_construction_names_what_differs() -> None:
    c = claim(kind="ratio", over="host", numerator="jetstream", denominator="taco")
    c.comparison, c.threshold, c.condition = "within", [0.8, 1.25], {"rps": 10, **STUDY}
    c.construction = True
    facts = {}
    for host, mem in (("taco", 2**31), ("jetstream", 2**32)):
        pre = f"provenance.testbed.hosts.{host}."
        facts |= {
            pre + "host_facts.cpu_cores_applied": 2.0,
            pre + "kernel": "6.1",
            pre + "sshd_version": "OpenSSH_9.2",
            pre + "host_facts.memory_bytes_applied": mem,
        }
    a = trials([100.0, 101.0, 99.0], rps=10, host="jetstream")
    b = trials([100.0, 100.5, 99.5], rps=10, host="taco")
    pts = [dict(p, point_id=f"p{i}", **facts) for i, p in enumerate(a + b)]
    (r,) = evaluate_claim(c, crafted(pts))
    assert "equal by construction here" in r.note
    assert "memory limit 4096 vs 2048 MiB" in r.note and "CPU quota" in r.note
    for p in pts:
        p["provenance.testbed.hosts.taco.host_facts.cpu_cores_applied"] = 1.0
    (r,) = evaluate_claim(c, crafted(pts))
    assert "equal by construction" not in r.note and "CPU quota (2.0 vs 1.0)" in r.note


def test_the_paper_claims_on_recorded_real_points() -> None:
    """Every claim of paper/claims.yaml evaluates on real collected points (recorded from a
    ci sweep): the burst claim sees the default profile's real refusals."""
    from analysis.collect import collect

    tidy = collect(Path(__file__).parent / "data" / "ci-recorded")
    details, summary = evaluate(load_claims(paths.PAPER_DIR / "claims.yaml"), tidy)
    assert set(summary["verdict"]) <= set(VERDICTS)
    burst = details[details["claim_id"] == "burst_default_refuses_tuned_accepts"]
    assert list(burst["verdict"]) == [NOT_MEASURED]  # no tuned burst of 40 recorded
    assert "profile=tuned" in burst.iloc[0]["note"]


def test_infinite_trial_values() -> None:
    """latency_mean is inf when a trial met an unanswered request: all trials inf decide,
    some inf give no CI."""
    c = claim(comparison="<=", threshold=1000)
    (r,) = evaluate_claim(c, crafted(trials([math.inf] * 3)))
    assert r.verdict == FAILS and r.value == math.inf
    (r,) = evaluate_claim(c, crafted(trials([500.0, math.inf, 490.0])))
    assert r.verdict == INCONCLUSIVE and "infinite" in r.note
    ratio = claim(kind="ratio", over="rps", numerator=500, denominator=100, comparison=">")
    ratio.threshold, ratio.condition = 2.0, dict(STUDY)
    pts = trials([100.0, 101.0, 99.0], rps=100) + trials([math.inf] * 3, rps=500)
    (r,) = evaluate_claim(ratio, crafted([dict(p, point_id=f"p{i}") for i, p in enumerate(pts)]))
    assert r.verdict == HOLDS and r.value == math.inf


def test_a_ratio_level_lost_to_the_harness_is_partially_measured() -> None:
    ratio = claim(kind="ratio", over="rps", numerator=500, denominator=100, comparison=">")
    ratio.threshold, ratio.condition = 2.0, dict(STUDY)
    pts = trials([100.0, 101.0, 99.0], rps=100)
    pts += [{"rps": 500, "trial": t, "status": "failed", "error_class": "worker_lost",
             "metrics": {"point_ok": 0.0}} for t in range(3)]  # fmt: skip
    (r,) = evaluate_claim(ratio, crafted([dict(p, point_id=f"p{i}") for i, p in enumerate(pts)]))
    assert r.verdict == PARTIAL and "3 worker_lost" in r.note
