"""Every figure from the real CI sweep's tidy table, and from every part of it alone: each
figure draws, or says in one line why it has nothing to show; none raises. Drawn figures are
checked with matplotlib's own renderer: no two text boxes (title, axis labels, tick labels,
legends) overlap, and every line that claims to be a percentile curve only rises."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from analysis.figures import (
    BUILDERS,
    NOT_ANSWERED,
    PCT_LABELS,
    build,
    draw,
    percentile_curves,
)
from analysis.figures_summary import draw_summary, summary_figure
from analysis.plotting import Shown
from analysis.select import latency_metric, ok_points, per_point
from measure.metrics import PERCENTILES
from sshbench import paths
from sshbench.paths import FIGURES, SweepLayout
from tests.analysis.crafted import v2_tidy


def _subsets(tidy: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Parts of a real sweep, each a valid sweep of its own: every point alone (one level per
    axis, one trial, a single rate or burst), each pattern alone, each sshd profile alone,
    the bursts of both profiles together, and the whole sweep with every point failed
    (status failed by the system under test: what a sweep whose API died leaves)."""
    parts = {f"point {p}": g for p, g in tidy.groupby("point_id")}
    for col in ("pattern", "profile", "connections", "command", "library"):
        for level, g in tidy.groupby(col):
            parts[f"{col}={level}"] = g
    parts["bursts of both profiles"] = tidy[tidy["pattern"] == "burst"]
    parts["sustained, one trial, single rate"] = tidy[tidy["rps"] == tidy["rps"].min()]
    parts["every point failed"] = tidy.assign(status="failed", error_class="api_down")
    return parts


def _texts(fig: Figure) -> list[tuple[str, Bbox]]:
    """Every title, axis label, tick label and legend of the figure, with its box in pixels."""
    renderer = fig.canvas.get_renderer()
    boxes = []

    def add(name: str, artist) -> None:
        if artist is None or not artist.get_visible():
            return
        text = artist.get_text() if hasattr(artist, "get_text") else "legend"
        if not text.strip():
            return
        boxes.append((f"{name} {text!r}", artist.get_window_extent(renderer)))

    add("suptitle", fig._suptitle)
    for leg in fig.legends:
        add("figure legend", leg)
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for where in ("left", "center", "right"):
            add(
                f"axes {i} title", ax.title if where == "center" else getattr(ax, f"_{where}_title")
            )
        add(f"axes {i} xlabel", ax.xaxis.label)
        add(f"axes {i} ylabel", ax.yaxis.label)
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            for t in _drawn_tick_labels(axis):
                add(f"axes {i} {name} tick", t)
        add(f"axes {i} legend", ax.get_legend())
    return boxes


def _drawn_tick_labels(axis) -> list:
    """The tick labels matplotlib draws: those of ticks inside the view limits (the locator
    also returns ticks just outside them, which are never drawn)."""
    lo, hi = sorted(axis.get_view_interval())
    eps = (hi - lo) * 1e-9
    out = []
    for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
        if lo - eps <= tick.get_loc() <= hi + eps:
            out += [lab for lab in (tick.label1, tick.label2) if lab.get_visible()]
    return out


def _overlaps(fig: Figure) -> list[str]:
    fig.canvas.draw()
    out = []
    for (a, ba), (b, bb) in itertools.combinations(_texts(fig), 2):
        # boxes that share an edge or a pixel's rounding do not count: 1 px inside each side
        inner = Bbox.from_extents(ba.x0 + 1, ba.y0 + 1, ba.x1 - 1, ba.y1 - 1)
        if inner.width > 0 and inner.height > 0 and inner.overlaps(bb):
            out.append(f"{a} overlaps {b}")
    return out


def _percentile_lines(fig: Figure) -> list[np.ndarray]:
    """The y data of every line on an axes whose x ticks are the percentiles (figure 1 and its
    variants), except the study's marks (single points)."""
    lines = []
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_xticklabels()]
        if labels != PCT_LABELS:
            continue
        for line in ax.get_lines():
            y = np.asarray(line.get_ydata(), dtype=float)
            if len(y) > 1:
                lines.append(y)
    return lines


def _rises(y: np.ndarray) -> bool:
    """Non-decreasing (inf after inf counts as not falling)."""
    return all(b >= a for a, b in itertools.pairwise(y))


def _check(shown: Shown, where: str) -> None:
    if shown.fig is None:
        assert shown.why and "\n" not in shown.why, where
        return
    try:
        assert not _overlaps(shown.fig), f"{where}: {_overlaps(shown.fig)}"
        for y in _percentile_lines(shown.fig):
            assert _rises(y), f"{where}: a percentile curve falls: {y}"
    finally:
        plt.close(shown.fig)


@pytest.mark.parametrize("stem", FIGURES)
def test_every_figure_from_the_real_sweep_draws_without_overlapping_text(
    stem: str, ci_tidy: pd.DataFrame, tmp_path: Path
) -> None:
    _check(BUILDERS[stem](ci_tidy), stem)
    png, _ = draw(stem, ci_tidy, tmp_path / f"{stem}.png")
    assert png.exists() and png.with_suffix(".pdf").exists()


@pytest.mark.parametrize("stem", FIGURES)
def test_every_figure_from_a_richer_table_draws_without_overlapping_text(stem: str) -> None:
    """The hand-built contract table has three rates, three trials, two libraries, pooled
    and per-request, a saturated rate: more labels and legend entries than the CI sweep."""
    _check(BUILDERS[stem](v2_tidy()), stem)


def test_every_figure_draws_from_every_part_of_the_real_sweep_alone(
    ci_tidy: pd.DataFrame,
) -> None:
    """No builder raises on any valid sweep: it draws, or says why not in one line."""
    drawn = {stem: 0 for stem in FIGURES}
    for name, part in _subsets(ci_tidy).items():
        for stem in FIGURES:
            shown = BUILDERS[stem](part)  # raises: the test fails
            drawn[stem] += shown.fig is not None
            _check(shown, f"{stem} from {name}")
    assert drawn["fig1_load_percentiles"] and drawn["fig3_sshd_profiles"], drawn


def test_a_failing_figure_never_stops_the_others(ci_tidy: pd.DataFrame, tmp_path: Path) -> None:
    """A builder that raises writes a placeholder and says why; draw() itself does not raise."""
    stem = "fig6_variability"
    original = BUILDERS[stem]
    BUILDERS[stem] = lambda tidy: 1 / 0  # a figure with a bug
    try:
        shown = build(stem, ci_tidy)
        png, pdf = draw(stem, ci_tidy, tmp_path / f"{stem}.png")
    finally:
        BUILDERS[stem] = original
    assert shown.fig is None and "ZeroDivisionError" in shown.why
    info = json.loads(png.with_suffix(".json").read_text())
    assert info["shown"] is False and "could not be drawn" in info["why"]
    assert png.exists() and pdf.exists()


def test_a_percentile_not_answered_is_drawn_at_the_top_never_dropped(
    ci_tidy: pd.DataFrame,
) -> None:
    """Real 5 RPS points, one trial's upper percentiles made not answered (+inf: what a
    failed or missed slot there gives under the verdict rules): the curve's mean is inf
    from there on (never the mean of the other trials), the figure has a 'not answered'
    strip with a marker per such percentile, and every drawn curve still only rises."""
    lat = [latency_metric(q) for q in PERCENTILES]
    pts = ok_points(per_point(ci_tidy, lat))
    pts = pts[(pts["pattern"] == "sustained") & (pts["connections"] == "per-request")]
    assert len(pts) >= 2, "the CI sweep has two per-request sustained points"
    pts = pts.assign(rps=5.0)  # both as trials of one configuration
    first = pts.index[0]
    for q in (99, 99.9, 100):
        pts.loc[first, latency_metric(q)] = np.inf
    curves = percentile_curves(pts)
    assert _rises(curves["ms"].to_numpy())
    top = curves[curves["percentile"] >= 99]
    assert np.isinf(top["ms"]).all()
    assert np.isfinite(curves[curves["percentile"] < 99]["ms"]).all()

    rows = ci_tidy[ci_tidy["point_id"].isin(pts["point_id"])].copy()
    rows["command"] = "uptime"
    rows["rps"] = 5.0
    mask = (rows["point_id"] == pts.loc[first, "point_id"]) & rows["metric"].isin(
        [latency_metric(q) for q in (99, 99.9, 100)]
    )
    rows.loc[mask, "value"] = np.inf
    shown = BUILDERS["fig1_load_percentiles"](rows)
    strip = shown.fig.axes[0]
    assert [t.get_text() for t in strip.get_yticklabels()] == [NOT_ANSWERED]
    markers = [x for line in strip.get_lines() for x in line.get_xdata()]
    assert sorted(markers) == [PERCENTILES.index(q) for q in (99, 99.9, 100)]
    _check(shown, "fig1 with a percentile not answered")


def test_fig1_is_one_panel_with_a_line_per_rate_and_the_studys_marks() -> None:
    shown = BUILDERS["fig1_load_percentiles"](v2_tidy())
    fig = shown.fig
    ax = fig.axes[-1]
    assert len([a for a in fig.axes if a.get_visible()]) == 1  # every percentile answered
    assert [t.get_text() for t in ax.get_xticklabels()] == PCT_LABELS
    assert "\n" not in fig._suptitle.get_text()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:3] == ["10 RPS", "50 RPS", "90 RPS"]  # rates in the order of their values
    assert "study: 99 % < 2 s at 90 RPS" in legend and "study: ~90 % < 1 s at 50 RPS" in legend
    assert "limited by: host CPU (taco)" in legend  # the saturated 90 RPS, on its marks
    assert ax.get_yscale() == "log" and "log scale" in ax.get_ylabel()
    plt.close(fig)


def test_summary_figure_from_the_real_claims(ci_sweep: Path, tmp_path: Path) -> None:
    layout = SweepLayout(ci_sweep)
    details = pd.read_csv(layout.claims)
    summary = pd.read_csv(layout.claims_summary)
    shown = summary_figure(details, summary)
    labels = [ax.get_ylabel() for ax in shown.fig.axes]
    assert labels == list(summary["claim_id"])  # one row per claim, measured or not
    texts = [t.get_text() for ax in shown.fig.axes for t in ax.texts]
    for verdict in summary["verdict"]:
        assert verdict in texts
    _check(shown, "summary figure")
    record = draw_summary(layout.claims, layout.claims_summary, tmp_path / "s.png")
    assert record["shown"] and (tmp_path / "s.png").exists()


def test_summary_figure_without_claims_is_one_line(tmp_path: Path) -> None:
    record = draw_summary(tmp_path / "none.csv", None, tmp_path / "s.png")
    assert record == {"stem": "summary_claims", "shown": False, "why": "no claim was checked"}


def test_docs_figures_refuse_a_sweep_without_results(tmp_path: Path) -> None:
    from analysis.figures_summary import docs_figures

    with pytest.raises(SystemExit, match=r"tidy\.csv does not exist"):
        docs_figures(tmp_path / "quick", tmp_path / "docs")
    assert paths.ROOT.joinpath("Makefile").read_text().count("docs-figures:") == 1
