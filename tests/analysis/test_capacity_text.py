"""A capacity limited by the environment is a lower bound: written "≥ N", never compared with
the study's 90 RPS as if measured (analysis.tables.capacity_table)."""

import math

from analysis.tables import capacity_table, lower_bound, versus_study
from tests.analysis.crafted import capacities_frame


def test_a_search_without_the_field_is_measured() -> None:
    caps = capacities_frame()
    assert "lower_bound" not in caps.columns
    table = capacity_table(caps)
    assert table.iloc[0]["capacity (RPS)"] == 74.0
    assert table.iloc[0]["vs the study's 90 RPS"].startswith("below the study's 90 RPS (x0.82)")


def test_an_environment_limited_search_is_a_lower_bound() -> None:
    caps = capacities_frame()
    caps["lower_bound"] = [True, False, "True", False, True]
    table = capacity_table(caps)
    first = table.iloc[0]
    assert first["capacity (RPS)"] == "≥ 74"
    assert first["vs the study's 90 RPS"] == (
        "≥ 74 RPS, environment-limited: not comparable with the study's 90 RPS"
    )
    assert table.iloc[1]["capacity (RPS)"] == 76.0  # measured: compared as before
    assert table.iloc[2]["capacity (RPS)"] == "≥ 68"  # "True" as text (from a CSV)
    assert "not comparable" in table.iloc[4]["vs the study's 90 RPS"]  # no step passed
    assert versus_study(95.0, True, True).startswith("at least the study's 90 RPS")
    assert lower_bound({"lower_bound": math.nan}) is False and lower_bound({}) is False
