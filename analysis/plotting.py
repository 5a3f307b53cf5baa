"""Shared pieces of every figure: size, grid of panels, title, legend, colours, and the
one saturation wording (the tidy `saturation` column) on what a panel shows.

A figure shows only what the sweep measured: panels exist only for combinations of
factors the sweep asked for, and a figure with nothing to show is no figure at all
(``Shown(None, why)``): the report prints the reason as one line instead.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from analysis.captions import TITLES
from analysis.common import fmt_level, isnan, order
from analysis.stats import t_interval

FIGSIZE = (10.0, 6.0)
DPI = 150
WIDTH_PX, HEIGHT_PX = int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI)
MAX_COLUMNS = 3


@dataclass
class Shown:
    """A built figure, or None and why there is nothing to show."""

    fig: Figure | None
    why: str = ""
    notes: list[str] = field(default_factory=list)


def nothing(why: str) -> Shown:
    return Shown(None, why)


def ci(values: Sequence[float]) -> tuple[float, float]:
    """Student's t 95 % interval over trials (the claims check uses the same)."""
    _, low, high = t_interval(list(values))
    return low, high


def rate_label(v: Any) -> str:
    return fmt_level(v)


# ---------------------------------------------------------------- panels


def panels(
    df: pd.DataFrame, dims: Sequence[tuple[str, Sequence[Any]]]
) -> list[tuple[str, pd.DataFrame]]:
    """(title, rows) per combination of the dims' levels that the data has, in order.

    A dim whose column is missing or has one level is not split on (and not named); a
    combination the sweep never asked for gets no panel at all.
    """
    keys = [(c, pref) for c, pref in dims if c in df.columns and df[c].dropna().nunique() > 1]
    if not keys or df.empty:
        return [("", df)] if not df.empty else []
    cols = [c for c, _ in keys]
    combos = df[cols].drop_duplicates().dropna()
    levels = {c: order(df[c].unique(), pref) for c, pref in keys}
    combos = sorted(
        (tuple(r) for r in combos.itertuples(index=False)),
        key=lambda t: [
            levels[c].index(v) if v in levels[c] else 99 for c, v in zip(cols, t, strict=True)
        ],
    )
    out = []
    for combo in combos:
        mask = np.ones(len(df), dtype=bool)
        for c, v in zip(cols, combo, strict=True):
            mask &= (df[c] == v).to_numpy()
        title = ", ".join(f"{c}={fmt_level(v)}" for c, v in zip(cols, combo, strict=True))
        out.append((title, df[mask]))
    return out


def figure_grid(n: int, ncols: int = 0, **kw: Any) -> tuple[Figure, list[plt.Axes]]:
    """A figure of FIGSIZE with n panels (ncols, or at most MAX_COLUMNS, a row); spare axes
    hidden."""
    ncols = max(1, min(n, ncols or MAX_COLUMNS))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=FIGSIZE, dpi=DPI, squeeze=False, layout="constrained", **kw
    )
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def title(fig: Figure, stem: str, notes: Sequence[str] = ()) -> None:
    """Figure title, and below it (wrapped) what the figure kept fixed, pooled or found."""
    sub = "; ".join(n for n in notes if n)
    text = TITLES[stem] + ("\n" + "\n".join(textwrap.wrap(f"({sub})", 120)) if sub else "")
    fig.suptitle(text, fontsize=10)


def figure_legend(fig: Figure, axes: Sequence[plt.Axes], legend_title: str = "") -> None:
    """One legend for the whole figure, right of the panels, instead of one per panel."""
    handles, labels = [], []
    for ax in axes:
        leg = ax.get_legend()
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
        if leg is not None:
            leg.remove()
    if handles:
        fig.legend(
            handles, labels, loc="outside right center", title=legend_title or None, fontsize=8
        )


def palette(levels: Sequence[Any], skip: Sequence[int] = ()) -> dict[Any, Any]:
    """One colour per level, the same in every panel (so one legend serves the figure)."""
    base = [c for i, c in enumerate(sns.color_palette("tab10")) if i not in skip]
    colours = base if len(levels) <= len(base) else sns.color_palette("husl", len(levels))
    return dict(zip(levels, colours, strict=False))


def maybe_log(ax: plt.Axes, values: Sequence[float], axis: str = "y") -> None:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0])
    if len(v) and v.max() / v.min() > 30:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


# ---------------------------------------------------------------- saturation wording


def saturation_of(points: pd.DataFrame) -> str:
    """The distinct tidy `saturation` texts of some points, joined ("" if nothing ran out)."""
    if "saturation" not in points.columns:
        return ""
    texts = [t for t in order(points["saturation"].fillna("").astype(str)) if t]
    return "; ".join(texts)


def saturation_notes(points: pd.DataFrame, by: str = "rps", unit: str = " RPS") -> list[str]:
    """One note per level of `by` where points ran out of something, in the tidy wording:
    "90 RPS: saturated: host_cpu:taco (3 of 3 points)"."""
    if "saturation" not in points.columns or by not in points.columns:
        return []
    notes = []
    for level in order(points[by].unique()):
        at = points[points[by] == level]
        sat = at[at["saturation"].fillna("").astype(str) != ""]
        if len(sat):
            notes.append(
                f"{fmt_level(level)}{unit}: {saturation_of(sat)} ({len(sat)} of {len(at)} points)"
            )
    return notes


def finite(values: pd.Series) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce")
    return v.where(np.isfinite(v))


def isblank(v: Any) -> bool:
    return isnan(v) or v == ""
