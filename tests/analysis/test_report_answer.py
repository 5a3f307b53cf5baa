"""The report's first screen is the answer: the claims with coloured verdict badges beside the
summary figure, before anything else (a hand-built contract-v2 sweep, not a measurement)."""

from __future__ import annotations

import re

import pytest

from analysis.claims import load_claims
from analysis.figures_summary import SUMMARY_STEM
from analysis.plotting import VERDICT_COLOURS
from analysis.report import VERDICT_CLASSES, figure_label
from sshbench import paths
from sshbench.paths import SweepLayout


@pytest.fixture
def built(crafted_report: SweepLayout) -> SweepLayout:
    """The hand-built sweep's report (tests/analysis/conftest.py, built once per run)."""
    return crafted_report


def test_the_answer_comes_first(built: SweepLayout) -> None:
    html = built.report_html.read_text()
    answer = html.index('id="answer"')
    assert answer < html.index("point(s):") < html.index("<h2>1. The study's claims, checked</h2>")
    first = html[answer : html.index("</section>", answer)]
    assert 'id="summary_claims"' in first and 'src="data:image/png;base64,' in first
    # every claim of the summary, with its badge; p99 at 90 RPS fails on the crafted sweep
    claims = load_claims(paths.PAPER_DIR / "claims.yaml")
    assert first.count('<span class="v ') == len(claims)
    assert '<span class="v fails">does not hold</span>' in first
    # each claim's badge carries its verdict's class (the crafted sweep holds none since the
    # load-test claims name both hosts and both profiles)
    for verdict in ("partially measured", "not measured", "inconclusive"):
        assert f'<span class="v {VERDICT_CLASSES[verdict]}">{verdict}</span>' in first, verdict
    assert "0.6 [" in first or "0.6<" in first  # the measured value is shown
    assert built.figure(SUMMARY_STEM, "png").exists()


def test_every_verdict_has_a_badge_class_and_a_colour() -> None:
    from analysis.claims import VERDICT_RULES

    css = (paths.PAPER_DIR / "templates" / "report.css").read_text()
    assert set(VERDICT_RULES) == set(VERDICT_CLASSES) == set(VERDICT_COLOURS)
    for verdict, cls in VERDICT_CLASSES.items():
        rule = re.search(rf"\.v\.{cls} \{{[^}}]*border-color: (#[0-9A-Fa-f]{{6}})", css)
        assert rule, cls
        assert rule.group(1).upper() == VERDICT_COLOURS[verdict].upper(), verdict


def test_figures_are_numbered_by_their_stem(built: SweepLayout) -> None:
    assert figure_label("fig1b_load_variants") == "1b" and figure_label("fig9_x") == "9"
    md = built.report_md.read_text()
    assert "### Figure 1. Load test results for SSH API" in md
    variants = "**Figure 1b. Load test results per host, sshd profile and command**: _not"
    assert variants in md
    assert "Shown here: library=ssh2; connections=per-request" in md  # notes in the caption
