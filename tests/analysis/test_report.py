"""The report from a hand-built contract-v2 sweep (a test fixture, not a measurement): each
verdict beside its rule and levels, figures with nothing to show as one line, the
latency/service sentence, capacities next to the study's 90 RPS."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.claims import PARTIAL, VERDICT_RULES
from analysis.collect import read_tidy
from analysis.report import capacity_lines, latency_vs_service
from analysis.tables import capacity_rows
from sshbench.paths import FIGURES, SweepLayout
from tests.analysis.crafted import capacities_frame


@pytest.fixture
def built(crafted_report: SweepLayout) -> SweepLayout:
    """The hand-built sweep's report (tests/analysis/conftest.py, built once per run)."""
    return crafted_report


def test_every_verdict_stands_beside_its_rule_and_levels(built: SweepLayout) -> None:
    html = built.report_html.read_text()
    md = built.report_md.read_text()
    for rule in VERDICT_RULES.values():
        assert rule.replace("'", "&#39;") in html and rule in md
    # the tuned-sshd claim names 10, 100 and 500 RPS; the fixture has 10, 50 and 90
    row = next(line for line in md.splitlines() if "tuned_sshd_every_connection_succeeds**" in line)
    assert PARTIAL in row and "rps 10" in row and "rps 100, 500" in row


def test_a_figure_with_nothing_to_show_is_one_line(built: SweepLayout) -> None:
    md = built.report_md.read_text()
    assert "**Figure 8. Capacity at the latency bound**: _not measured by this sweep: " in md
    assert "fig8_capacity.png" not in md
    html = built.report_html.read_text()
    # no capacity search and no transfer point: two figures are one line each
    assert html.count('src="data:image/png;base64,') == len(FIGURES) - 2
    assert "This sweep has no capacity search." in html


def test_latency_and_service_sentence(built: SweepLayout) -> None:
    text = latency_vs_service(read_tidy(built.tidy))
    assert text.startswith("Below saturation (12 point(s)), latency from the schedule and ")
    assert "agree closely" in text
    assert "at 90 RPS (saturated: host_cpu:taco)" in text
    assert text in built.report_md.read_text()


def test_saturation_wording_in_tables_and_facts(built: SweepLayout) -> None:
    md = built.report_md.read_text()
    assert "- 3 point(s) saturated: host_cpu:taco (Figure 5)." in md
    assert "saturated: host_cpu:taco (3 of 3)" in built.table("percentiles", "csv").read_text()


def test_capacities_stand_next_to_the_studys_90_rps(tmp_path: Path) -> None:
    lines = capacity_lines(capacity_rows(capacities_frame()))
    assert len(lines) == 5
    assert lines[0].startswith("ssh2 per-request, host_cpus 2, client TCP default")
    assert "74.0 RPS, bracket [74, 77.7]; below the study's 90 RPS (x0.82)" in lines[0]
    assert "search not converged" in lines[3]
    assert "): bracket [0, 20]; no step met the bound" in lines[4]
