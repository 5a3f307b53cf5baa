"""Shared pieces of every figure: size, grid of panels, title, legend, colours, and the
one saturation wording (the tidy `saturation` column) on what a panel shows.

A figure shows only what the sweep measured: panels exist only for combinations of
factors the sweep asked for, and a figure with nothing to show is no figure at all
(``Shown(None, why)``): the report prints the reason as one line instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from analysis.captions import TITLES
from analysis.common import fmt_level, order
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


def title(fig: Figure, stem: str, notes: Sequence[str] = ()) -> list[str]:
    """The figure's one-line title; what it kept fixed, pooled or found (``notes``) goes to
    the caption instead (returned, for ``Shown.notes``: the report prints them under it)."""
    fig.suptitle(TITLES[stem], fontsize=10)
    return [n for n in notes if n]


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
    base = [c for i, c in enumerate(OKABE_ITO) if i not in skip]
    colours = base if len(levels) <= len(base) else sns.color_palette("husl", len(levels))
    return dict(zip(levels, colours, strict=False))


# ---------------------------------------------------------------- colours that mean something
#
# Okabe and Ito's colour-blind-safe set. Success is blue and failure vermillion (warm) in
# every figure; each library, sshd profile and host has one colour everywhere; request rates
# run light to dark along one sequential map, in the order of their values.

OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
SUCCESS = "#0072B2"
# Failure classes: warm and dark shades only, vermillion first.
FAILURE_SHADES = ("#D55E00", "#E69F00", "#CC79A7", "#8C2D04", "#F0E442", "#7F3B08")
LIBRARY_COLOURS = {
    "ssh2": "#0072B2",
    "paramiko": "#E69F00",
    "openssh": "#009E73",
    "asyncssh": "#CC79A7",
    "ssh-python": "#56B4E9",
}
HOST_COLOURS = {"taco": "#E69F00", "jetstream": "#56B4E9"}
MODE_COLOURS = {"per-request": "#0072B2", "pooled": "#009E73"}
# Verdicts of the claims check (the report's badges use the same, paper/templates/report.css).
VERDICT_COLOURS = {
    "holds": "#0072B2",
    "does not hold": "#D55E00",
    "inconclusive": "#E69F00",
    "not testable here": "#CC79A7",
    "partially measured": "#56B4E9",
    "not measured": "#999999",
}
SPARE = ("#999999", "#7F7F7F", "#444444", "#BBBBBB")


def fixed_colours(levels: Sequence[Any], known: dict[str, str]) -> dict[Any, str]:
    """Each level's fixed colour (``known``); a level no table names gets a grey, in order."""
    spare = iter(SPARE * (1 + len(levels) // len(SPARE)))
    return {lv: known.get(str(lv)) or next(spare) for lv in levels}


def failure_colours(classes: Sequence[str]) -> dict[str, str]:
    """Success blue, each failure class a warm shade (the same class, the same shade)."""
    shades = FAILURE_SHADES * (1 + len(classes) // len(FAILURE_SHADES))
    return {"success": SUCCESS, **dict(zip(sorted(classes), shades, strict=False))}


def rate_colours(rates: Sequence[Any]) -> dict[Any, Any]:
    """Rates light to dark in the order of their values (one sequential map, viridis reversed
    so the highest rate is the darkest)."""
    levels = order(rates)
    cmap = matplotlib.colormaps["viridis_r"]
    n = len(levels)
    return {lv: cmap(0.15 + 0.75 * (i / (n - 1) if n > 1 else 0.5)) for i, lv in enumerate(levels)}


def log_label(ax: plt.Axes, axis: str = "y") -> None:
    """Say on the axis label that the axis is logarithmic (once)."""
    get, set_ = (ax.get_ylabel, ax.set_ylabel) if axis == "y" else (ax.get_xlabel, ax.set_xlabel)
    scale = ax.get_yscale() if axis == "y" else ax.get_xscale()
    text = get()
    if scale == "log" and "log scale" not in text:
        set_(f"{text} (log scale)" if text else "log scale")
    if scale == "log":  # ticks at 1, 2, 5 per decade, as plain numbers (not 10^3)
        axis_ = ax.yaxis if axis == "y" else ax.xaxis
        axis_.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis_.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis_.set_minor_formatter(matplotlib.ticker.NullFormatter())


def maybe_log(ax: plt.Axes, values: Sequence[float], axis: str = "y") -> bool:
    """A log axis when the values span more than 30x; the axis label says so. Call after
    setting the label."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0])
    if len(v) and v.max() / v.min() > 30:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        log_label(ax, axis)
        return True
    return False


# ---------------------------------------------------------------- saturation wording


def saturation_of(points: pd.DataFrame) -> str:
    """The distinct tidy `saturation` texts of some points, joined ("" if nothing ran out)."""
    if "saturation" not in points.columns:
        return ""
    texts = [t for t in order(points["saturation"].fillna("").astype(str)) if t]
    return "; ".join(texts)


def finite(values: pd.Series) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce")
    return v.where(np.isfinite(v))


# ---------------------------------------------------------------- what ran out, on the marks

LIMIT_WORDS = {
    "machine_cpu": "machine CPU",
    "api_cpu": "API CPU",
    "generator_cpu": "load generator CPU",
    "generator_users": "load generator users",
    "sshd_refusals": "sshd refusals",
}
SATURATED_MARKER = {"markerfacecolor": "white", "markeredgewidth": 1.5}  # hollow
ENVIRONMENT_MARKER = "X"  # crossed


def limit_word(item: str) -> str:
    """One `limited_by` item in words: host_cpu:taco -> "host CPU (taco)"."""
    if item.startswith("host_cpu:"):
        return f"host CPU ({item.split(':', 1)[1]})"
    return LIMIT_WORDS.get(item, item.replace("_", " "))


def limits_of(points: pd.DataFrame) -> list[str]:
    """What ran out in any of these points, in words, in the order of first appearance."""
    from measure.saturation import items

    if "limited_by" not in points.columns:
        return []
    items = [i for v in points["limited_by"] for i in items(v)]
    return list(dict.fromkeys(limit_word(i) for i in items))


def limit_kind(points: pd.DataFrame) -> str:
    """ "environment" if any point ran out of something outside the study's setup,
    "saturated" if only the system under test ran out, else "none"."""
    if "limit_kind" in points.columns:
        kinds = set(points["limit_kind"].fillna("none").astype(str))
        if "environment" in kinds:
            return "environment"
        if kinds & {"saturated", "generator"}:
            return "saturated"
        return "none"
    return "saturated" if limits_of(points) else "none"


def limit_handles(points_by_kind: dict[str, pd.DataFrame]) -> list[Any]:
    """Legend entries for the marks of points that ran out: hollow = the system under test,
    crossed = the environment; each says what ran out."""
    from matplotlib.lines import Line2D

    out = []
    sat = points_by_kind.get("saturated")
    if sat is not None and len(sat):
        out.append(
            Line2D(
                [],
                [],
                color="0.3",
                marker="o",
                linestyle="none",
                label="limited by: " + ", ".join(limits_of(sat)),
                **SATURATED_MARKER,
            )
        )
    env = points_by_kind.get("environment")
    if env is not None and len(env):
        out.append(
            Line2D(
                [],
                [],
                color="0.3",
                marker=ENVIRONMENT_MARKER,
                linestyle="none",
                label="limited by (not the system): " + ", ".join(limits_of(env)),
            )
        )
    return out
