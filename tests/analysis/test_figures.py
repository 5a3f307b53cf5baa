"""Every figure built and opened: from a hand-built contract-v2 table, from a table without
data (nothing to show: one line for the report, not a made-up figure), and from the real
CI sweep."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.figures import BUILDERS, HEIGHT_PX, WIDTH_PX, draw
from analysis.figures_resources import capacity_figure
from sshbench.paths import FIGURES
from tests.analysis.crafted import capacities_frame, v2_tidy


def _texts(fig) -> str:
    text = "\n".join(t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text")))
    return text + "\n" + " ".join(text.split())  # also unwrapped, for wrapped titles


def _titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_visible()]


def _check_files(png: Path) -> None:
    with Image.open(png) as im:
        assert im.size == (WIDTH_PX, HEIGHT_PX)
        pixels = np.asarray(im.convert("L"))
    assert pixels.std() > 5, "the PNG is blank"
    pdf = png.with_suffix(".pdf")
    assert pdf.exists() and pdf.read_bytes()[:5] == b"%PDF-"


# The hand-built table has one host, profile and command (no figure 1 variants), no
# capacity search and no transfer point.
@pytest.mark.parametrize(
    "stem",
    [s for s in FIGURES if s not in ("fig8_capacity", "fig1b_load_variants", "fig10_transfer")],
)
def test_every_figure_draws_from_a_v2_table(stem: str, tmp_path: Path) -> None:
    png, _ = draw(stem, v2_tidy(), tmp_path / f"{stem}.png")
    _check_files(png)
    assert json.loads(png.with_suffix(".json").read_text())["shown"] is True


@pytest.mark.parametrize("stem", FIGURES)
def test_a_figure_with_nothing_to_show_says_why_in_one_line(stem: str, tmp_path: Path) -> None:
    empty = pd.DataFrame(columns=["sweep", "point_id", "status", "metric", "value", "unit"])
    shown = BUILDERS[stem](empty)
    assert shown.fig is None and shown.why and "\n" not in shown.why
    png, pdf = draw(stem, empty, tmp_path / f"{stem}.png")
    assert png.exists() and pdf.exists()  # the rule's outputs exist all the same
    info = json.loads(png.with_suffix(".json").read_text())
    assert info == {"stem": stem, "shown": False, "why": shown.why}


def test_figures_leave_out_panels_the_sweep_never_asked_for() -> None:
    tidy = v2_tidy()
    fig1 = BUILDERS["fig1_load_percentiles"](tidy).fig
    assert len([ax for ax in fig1.axes if ax.get_visible()]) == 1  # one host, one profile
    fig3 = BUILDERS["fig3_sshd_profiles"](tidy).fig
    assert _titles(fig3) == ["profile=tuned"]  # the sweep ran only the tuned profile
    fig4 = BUILDERS["fig4_libraries_and_modes"](tidy).fig
    texts = _texts(fig4)
    assert "openssh" not in texts and "not measured" not in texts
    # pooled ran ssh2 only: its panels exist, but no paramiko pooled point is drawn
    modes = [
        "connections=per-request, client TCP=default",
        "connections=pooled, client TCP=default",
    ]
    assert sorted(_titles(fig4)) == sorted(modes * 2)


def test_what_ran_out_is_on_the_marks_not_in_the_title(tmp_path: Path) -> None:
    tidy = v2_tidy()
    for stem in (
        "fig1_load_percentiles",
        "fig2_mean_response_by_host",
        "fig4_libraries_and_modes",
        "fig5_target_vs_achieved_rps",
    ):
        fig = BUILDERS[stem](tidy).fig
        legend = " ".join(t.get_text() for leg in fig.legends for t in leg.get_texts())
        assert "limited by: host CPU (taco)" in legend, stem
        assert "\n" not in fig._suptitle.get_text() and "saturated" not in _texts(fig), stem
    assert "load generator" not in _texts(BUILDERS["fig5_target_vs_achieved_rps"](tidy).fig)


def test_fig1_variants_are_panels_with_shared_axes() -> None:
    """The hand-built table with its 10 RPS points also run with `ls` (relabelled copies):
    figure 1 keeps one command, the variants figure has a panel per command, same y range."""
    tidy = v2_tidy()
    ls = tidy[tidy["rps"] == 10].assign(
        command="ls", point_id=lambda d: d["point_id"].astype(str) + "-ls"
    )
    both = pd.concat([tidy, ls], ignore_index=True)
    shown = BUILDERS["fig1_load_percentiles"](both)
    assert "command=uptime" in shown.notes
    fig = BUILDERS["fig1b_load_variants"](both).fig
    titles = _titles(fig)
    assert titles == ["command=uptime", "command=ls"]
    mains = [ax for ax in fig.axes if ax.get_visible()]
    assert len({ax.get_ylim() for ax in mains}) == 1  # shared y axis


def test_cpu_figure_splits_by_library_and_mode() -> None:
    fig = BUILDERS["fig7_cpu_per_request"](v2_tidy()).fig
    texts = _texts(fig)
    for word in ("ssh2 per-request", "paramiko per-request", "ssh2 pooled", "host", "api"):
        assert word in texts, word
    assert "26.5" in texts  # 23 + 3 + 0.5 ms stacked


def test_capacity_figure_from_the_contract_columns(tmp_path: Path) -> None:
    shown = capacity_figure(capacities_frame())
    texts = _texts(shown.fig) + " ".join(shown.notes)
    assert "75" in texts and "310" in texts and "the study's 90 RPS" in texts  # 75: 2 trials
    assert "not converged" in texts and "none passed" in texts
    assert capacity_figure(capacities_frame().iloc[0:0]).why == "this sweep has no capacity search"
    assert BUILDERS["fig8_capacity"](v2_tidy()).why == "this sweep has no capacity search"


def test_unknown_figure_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown figure 'fig9'"):
        draw("fig9", pd.DataFrame(), tmp_path / "x.png")


def test_keep_one_keeps_the_level_the_compared_factor_was_measured_under() -> None:
    """A made-up table of parameters only (no measurement): libraries were run on taco."""
    from analysis.select import keep_one

    df = pd.DataFrame(
        {
            "host": ["jetstream", "taco", "taco", "taco"],
            "library": ["ssh2", "ssh2", "paramiko", "openssh"],
        }
    )
    kept, note = keep_one(df, "host", None, cover=["library"])
    assert note == "host=taco" and len(kept) == 3
    kept, note = keep_one(df, "host", "jetstream")
    assert note == "host=jetstream"  # no factor to cover: the preferred level
    assert keep_one(df[df["host"] == "taco"], "host")[1] == ""  # one level: nothing to say


def test_same_table_same_files(tmp_path: Path) -> None:
    """Rerunning a figure gives identical bytes (seeded jitter, no creation date)."""
    stem = "fig5_target_vs_achieved_rps"  # has strip-plot jitter
    a, a_pdf = draw(stem, v2_tidy(), tmp_path / "a" / f"{stem}.png")
    b, b_pdf = draw(stem, v2_tidy(), tmp_path / "b" / f"{stem}.png")
    assert a.read_bytes() == b.read_bytes()
    assert a_pdf.read_bytes() == b_pdf.read_bytes()
