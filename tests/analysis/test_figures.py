"""Every figure built and opened: from the real CI sweep, and from a table without data
(each must say 'not measured in this sweep' rather than fail or invent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis.figures import BUILDERS, HEIGHT_PX, NOT_MEASURED, WIDTH_PX, draw
from sshbench.paths import FIGURES


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text")))


def _check_files(png: Path) -> None:
    with Image.open(png) as im:
        assert im.size == (WIDTH_PX, HEIGHT_PX)
        pixels = np.asarray(im.convert("L"))
    assert pixels.std() > 5, "the PNG is blank"
    pdf = png.with_suffix(".pdf")
    assert pdf.exists() and pdf.read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("stem", FIGURES)
def test_figure_from_the_real_sweep(stem: str, ci_tidy: pd.DataFrame, tmp_path: Path) -> None:
    png, _pdf = draw(stem, ci_tidy, tmp_path / f"{stem}.png")
    _check_files(png)


@pytest.mark.parametrize("stem", FIGURES)
def test_figure_without_data_says_not_measured(stem: str, tmp_path: Path) -> None:
    empty = pd.DataFrame(columns=["sweep", "point_id", "status", "metric", "value", "unit"])
    fig = BUILDERS[stem](empty)
    assert NOT_MEASURED in _texts(fig)
    png, _pdf = draw(stem, empty, tmp_path / f"{stem}.png")
    _check_files(png)


def test_real_sweep_gaps_are_marked_not_invented(ci_tidy: pd.DataFrame) -> None:
    """The CI sweep has one host, one library and one trial per configuration."""
    assert ci_tidy["host"].nunique() == 1 and ci_tidy["library"].nunique() == 1
    assert NOT_MEASURED in _texts(BUILDERS["fig2_mean_response_by_host"](ci_tidy))  # 2nd host
    assert "paramiko" in _texts(BUILDERS["fig4_libraries_and_modes"](ci_tidy))
    assert NOT_MEASURED in _texts(BUILDERS["fig4_libraries_and_modes"](ci_tidy))
    assert NOT_MEASURED in _texts(BUILDERS["fig6_variability"](ci_tidy))  # 1 trial


def test_unknown_figure_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown figure 'fig9'"):
        draw("fig9", pd.DataFrame(), tmp_path / "x.png")


def test_keep_one_keeps_the_level_the_compared_factor_was_measured_under() -> None:
    """A made-up table of parameters only (no measurement): libraries were run on taco."""
    from analysis.figures import keep_one

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


def test_same_table_same_files(ci_tidy: pd.DataFrame, tmp_path: Path) -> None:
    """Rerunning a figure gives identical bytes (seeded jitter, no creation date)."""
    stem = "fig5_target_vs_achieved_rps"  # has strip-plot jitter
    a, a_pdf = draw(stem, ci_tidy, tmp_path / "a" / f"{stem}.png")
    b, b_pdf = draw(stem, ci_tidy, tmp_path / "b" / f"{stem}.png")
    assert a.read_bytes() == b.read_bytes()
    assert a_pdf.read_bytes() == b_pdf.read_bytes()
