"""The study's figures and our own, drawn with seaborn from the tidy table.

Each figure is a function tidy -> matplotlib Figure of a fixed size (FIGSIZE at DPI, so the
PNG is always WIDTH_PX x HEIGHT_PX) and is saved as PNG and PDF by ``draw``. A figure whose
factor the sweep did not vary says "not measured in this sweep" in its panel instead of
failing or inventing data. When a factor is not what the figure is about, the figure keeps
one level of it (the study's configuration where the sweep has it) and says which in its
subtitle.
"""

from __future__ import annotations

import json
import logging
import math
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.captions import TITLES
from analysis.common import NOT_MEASURED_TEXT as NOT_MEASURED
from analysis.common import order
from analysis.select import (
    LIBRARY_ORDER,
    MODE_ORDER,
    PERCENTILES,
    PROFILE_ORDER,
    STUDY,
    keep_one,
    params_of,
    per_point,
    study_config,
)
from analysis.select import latency_metric as percentile_metric
from analysis.stats import coefficient_of_variation, t_interval
from sshbench.paths import FIGURES

log = logging.getLogger(__name__)

FIGSIZE = (10.0, 6.0)
JITTER_SEED = 0
DPI = 150
WIDTH_PX, HEIGHT_PX = int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI)

# The study's configuration: its API used ssh2-python with a new connection per request,
# driven at a constant rate. Figures prefer these levels when a sweep has several.

# ---------------------------------------------------------------- data helpers


def _rate_label(v: Any) -> str:
    return f"{float(v):g}"


def _ci(values: Sequence[float]) -> tuple[float, float]:
    """Student's t 95 % interval over trials (the claims check uses the same)."""
    _, low, high = t_interval(list(values))
    return low, high


# ---------------------------------------------------------------- figure helpers


def _figure(nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(
        nrows, ncols, figsize=FIGSIZE, dpi=DPI, squeeze=False, layout="constrained", **kw
    )
    return fig, axes


def _title(fig: Figure, stem: str, notes: Sequence[str] = ()) -> None:
    """Figure title, and below it (wrapped) what the figure kept fixed or pooled."""
    sub = "; ".join(n for n in notes if n)
    text = TITLES[stem] + ("\n" + "\n".join(textwrap.wrap(f"({sub})", 110)) if sub else "")
    fig.suptitle(text, fontsize=11)


def not_measured(ax: plt.Axes, why: str, xlabel: str = "", ylabel: str = "") -> None:
    """Mark a panel whose data the sweep does not have, keeping its axis labels."""
    ax.text(
        0.5,
        0.5,
        f"{NOT_MEASURED}\n{why}",
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=11,
        color="0.35",
        wrap=True,
    )
    ax.tick_params(labelleft=False, labelbottom=False, left=False, bottom=False)
    ax.grid(False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def _figure_legend(fig: Figure, axes: np.ndarray, title: str = "") -> None:
    """One legend for the whole figure, right of the panels, instead of one per panel."""
    handles, labels = [], []
    for ax in axes.flat:
        leg = ax.get_legend()
        if leg is None:
            continue
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
        leg.remove()
    if handles:
        fig.legend(handles, labels, loc="outside right center", title=title or None, fontsize=9)


def _palette(levels: Sequence[Any], skip: Sequence[int] = ()) -> dict[Any, Any]:
    """One colour per level, the same in every panel (so one legend serves the figure)."""
    base = [c for i, c in enumerate(sns.color_palette("tab10")) if i not in skip]
    colours = base if len(levels) <= len(base) else sns.color_palette("husl", len(levels))
    return dict(zip(levels, colours, strict=False))


def _maybe_log(ax: plt.Axes, values: Sequence[float], axis: str = "y") -> None:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0])
    if len(v) and v.max() / v.min() > 30:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


def _grid_levels(df: pd.DataFrame, col: str, order: Sequence[Any] = ()) -> list[Any]:
    if col not in df.columns or df[col].dropna().empty:
        return [None]
    return order(df[col].unique(), order)


def _sel(df: pd.DataFrame, col: str, level: Any) -> pd.DataFrame:
    """Rows at one level of col (all rows for level None; none if col is missing)."""
    if level is None:
        return df
    return df[df[col] == level] if col in df.columns else df.iloc[0:0]


def _panel_title(parts: Sequence[tuple[str, Any]]) -> str:
    return ", ".join(f"{k}={v}" for k, v in parts if v is not None)


# ---------------------------------------------------------------- the figures


def fig1_load_percentiles(tidy: pd.DataFrame) -> Figure:
    """Response-time percentiles (50..100 %) per request rate, as in the study."""
    metrics = [percentile_metric(q) for q in PERCENTILES]
    pts = per_point(tidy, metrics)
    pts = pts[pts["status"] == "ok"] if not pts.empty else pts
    pts, notes = study_config(pts)
    xlabel, ylabel = "percentile of requests (%)", "response time (ms)"
    rows, cols = _grid_levels(pts, "host"), _grid_levels(pts, "profile", PROFILE_ORDER)
    fig, axes = _figure(len(rows), len(cols))
    _title(fig, "fig1_load_percentiles", [*notes, "mean over trials, band: Student t 95 % CI"])
    if pts.empty or "rps" not in pts.columns or pts[metrics].isna().all().all():
        not_measured(axes[0, 0], "(no sustained-load point with response times)", xlabel, ylabel)
        return fig
    long = pts.melt(
        id_vars=[c for c in pts.columns if c not in metrics],
        value_vars=metrics,
        var_name="metric",
        value_name="ms",
    )
    long["percentile"] = long["metric"].map({percentile_metric(q): f"{q:g}" for q in PERCENTILES})
    long["target RPS"] = long["rps"].map(_rate_label)
    rate_order = [_rate_label(r) for r in order(pts["rps"].unique())]
    colours = _palette(rate_order)
    commands = order(long["command"].unique()) if "command" in long.columns else []
    style = "command" if len(commands) > 1 else None
    dashes = dict(zip(commands, ["", (4, 2), (1, 1), (6, 2, 1, 2)], strict=False))
    markers = dict(zip(commands, ["o", "X", "s", "^"], strict=False))
    for i, host in enumerate(rows):
        for j, prof in enumerate(cols):
            ax = axes[i, j]
            d = _sel(_sel(long, "host", host), "profile", prof)
            if d.empty:
                not_measured(ax, _panel_title([("host", host), ("profile", prof)]), xlabel, ylabel)
                continue
            sns.lineplot(
                data=d,
                x="percentile",
                y="ms",
                hue="target RPS",
                hue_order=[r for r in rate_order if r in set(d["target RPS"])],
                palette=colours,
                style=style,
                style_order=commands if style else None,
                dashes=dashes if style else True,
                markers=markers if style else True,
                errorbar=_ci,
                ax=ax,
                sort=False,
                legend=False,
            )
            ax.set_title(_panel_title([("host", host), ("profile", prof)]), fontsize=10)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            _maybe_log(ax, d["ms"])
    handles = [Line2D([], [], color=colours[r], marker="o", label=f"{r} RPS") for r in rate_order]
    if style:
        handles += [
            Line2D(
                [], [], color="0.3", dashes=dashes[c] or (None, None), marker=markers[c], label=c
            )
            for c in commands
        ]
    fig.legend(
        handles=handles, loc="outside right center", fontsize=9, title="target rate, command"
    )
    return fig


def fig2_mean_response_by_host(tidy: pd.DataFrame) -> Figure:
    """Mean response time with 95 % CI over trials, per host, command and rate."""
    pts = per_point(tidy, ["latency_mean"])
    pts = pts[pts["status"] == "ok"] if not pts.empty else pts
    pts, notes = study_config(pts)
    xlabel, ylabel = "target request rate (RPS)", "mean response time (ms)"
    rows = _grid_levels(pts, "profile", PROFILE_ORDER)
    cols = _grid_levels(pts, "command", ["ls", "uptime"])
    fig, axes = _figure(len(rows), len(cols))
    ntrials = pts.groupby([c for c in params_of(pts) if c != "trial"], dropna=False).size()
    notes.append(f"bars: mean over trials, whiskers: Student t 95 % CI, {_trials_text(ntrials)}")
    _title(fig, "fig2_mean_response_by_host", notes)
    if pts.empty or pts["latency_mean"].isna().all():
        not_measured(axes[0, 0], "(no sustained-load point with response times)", xlabel, ylabel)
        return fig
    pts = pts.assign(rate=pts["rps"].map(_rate_label))
    rate_order = [_rate_label(r) for r in order(pts["rps"].unique())]
    hosts = order(pts["host"].unique()) if "host" in pts.columns else None
    for i, prof in enumerate(rows):
        for j, cmd in enumerate(cols):
            ax = axes[i, j]
            d = _sel(_sel(pts, "profile", prof), "command", cmd)
            title = _panel_title([("profile", prof), ("command", cmd)])
            if d.empty:
                not_measured(ax, title, xlabel, ylabel)
                continue
            sns.barplot(
                data=d,
                x="rate",
                y="latency_mean",
                hue="host" if hosts else None,
                hue_order=hosts,
                palette=_palette(hosts) if hosts else None,
                order=[r for r in rate_order if r in set(d["rate"])],
                errorbar=_ci,
                capsize=0.15,
                ax=ax,
            )
            if hosts and len(hosts) < 2:
                title += f"\n(a second host: {NOT_MEASURED})"
            elif hosts:
                absent = [h for h in hosts if h not in set(d["host"])]
                if absent:
                    title += f"\n({', '.join(map(str, absent))}: {NOT_MEASURED})"
            ax.set_title(title, fontsize=10)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
    _figure_legend(fig, axes, "host")
    return fig


def _trials_text(counts: pd.Series) -> str:
    if counts.empty:
        return "no trials"
    lo, hi = int(counts.min()), int(counts.max())
    if lo == hi == 1:
        return "1 trial per bar: no CI"
    return f"{lo} trials per bar" if lo == hi else f"{lo}-{hi} trials per bar"


def fig3_sshd_profiles(tidy: pd.DataFrame) -> Figure:
    """Successes and failures (by class) per rate under the default and tuned sshd."""
    fail_metrics = sorted(
        m for m in tidy.get("metric", pd.Series()).unique() if str(m).startswith("failures_")
    )
    xlabel, ylabel = "load (target RPS, or burst size)", "requests (sum over points)"
    all_pts = per_point(tidy, ["successes", "failures", *fail_metrics])
    notes = []
    for col in ("library", "connections"):  # both patterns are shown, as rows
        all_pts, note = keep_one(all_pts, col, STUDY.get(col))
        notes.append(note)
    patterns = _grid_levels(all_pts, "pattern", ["sustained", "burst"])
    profiles = _grid_levels(all_pts, "profile", PROFILE_ORDER)
    profiles = order([*(p for p in profiles if p is not None), *PROFILE_ORDER], PROFILE_ORDER)
    fig, axes = _figure(len(patterns), len(profiles))
    notes.append("summed over hosts, commands and trials; failed points included")
    _title(fig, "fig3_sshd_profiles", notes)
    classes = [m.removeprefix("failures_") for m in fail_metrics]
    palette = {"success": sns.color_palette("tab10")[2], **_palette(classes, skip=(2,))}
    for i, pat in enumerate(patterns):
        for j, prof in enumerate(profiles):
            ax = axes[i, j]
            d = _sel(_sel(all_pts, "pattern", pat), "profile", prof)
            title = _panel_title([("profile", prof), ("pattern", pat)])
            if d.empty or "profile" not in all_pts.columns:
                not_measured(ax, title, xlabel, ylabel)
                continue
            xcol = "burst_size" if pat == "burst" and "burst_size" in d.columns else "rps"
            sums = d.groupby(xcol)[["successes", *fail_metrics]].sum(min_count=1).fillna(0)
            sums = sums.loc[order(sums.index)]
            x = np.arange(len(sums))
            bottom = np.zeros(len(sums))
            for name, col in [("success", "successes")] + [(c, f"failures_{c}") for c in classes]:
                vals = sums[col].to_numpy(dtype=float)
                if name != "success" and not vals.any():
                    continue
                ax.bar(x, vals, bottom=bottom, color=palette[name], label=name, width=0.7)
                bottom += vals
            for xi, (ok, tot) in enumerate(zip(sums["successes"], bottom, strict=True)):
                failed = tot - ok
                ax.annotate(
                    f"{int(failed)} failed",
                    (xi, tot),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
            ax.set_xticks(x, [_rate_label(v) for v in sums.index])
            ax.set_ylim(0, max(1.0, float(bottom.max())) * 1.12)  # room for the labels
            ax.set_title(title, fontsize=10)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.legend()
    _figure_legend(fig, axes, "outcome")
    return fig


def fig4_libraries_and_modes(tidy: pd.DataFrame) -> Figure:
    """Median and p99 response time per rate: libraries side by side, per connection mode."""
    pts = per_point(tidy, ["latency_p50", "latency_p99"])
    pts = pts[pts["status"] == "ok"] if not pts.empty else pts
    notes = []
    compared = ("library", "connections", "rps")
    for col, pref in (("pattern", "sustained"), ("profile", "tuned"), ("command", "uptime")):
        pts, note = keep_one(pts, col, pref, cover=compared)
        notes.append(note)
    pts, note = keep_one(pts, "host", None, cover=compared)
    notes += [note, "mean over trials, Student t 95 % CI"]
    xlabel = "target request rate (RPS)"
    stats = [
        ("latency_p50", "median response time (ms)"),
        ("latency_p99", "p99 response time (ms)"),
    ]
    modes = order(
        [*pts.get("connections", pd.Series(dtype=object)).dropna().unique(), *MODE_ORDER],
        MODE_ORDER,
    )
    fig, axes = _figure(len(stats), len(modes))
    _title(fig, "fig4_libraries_and_modes", notes)
    libs = order(pts["library"].unique(), LIBRARY_ORDER) if "library" in pts.columns else []
    for i, (metric, ylabel) in enumerate(stats):
        for j, mode in enumerate(modes):
            ax = axes[i, j]
            d = pts[pts["connections"] == mode] if "connections" in pts.columns else pts.iloc[0:0]
            d = d.dropna(subset=[metric])
            if d.empty:
                not_measured(ax, f"(connections={mode})", xlabel, ylabel)
                continue
            d = d.assign(rate=d["rps"].map(_rate_label))
            present = [lib for lib in libs if lib in set(d["library"])]
            sns.pointplot(
                data=d,
                x="rate",
                y=metric,
                hue="library",
                hue_order=present,
                palette=_palette(order([*libs, *LIBRARY_ORDER], LIBRARY_ORDER)),
                order=[_rate_label(r) for r in order(d["rps"].unique())],
                errorbar=_ci,
                dodge=0.3 if len(present) > 1 else False,  # seaborn divides by levels - 1
                capsize=0.1,
                ax=ax,
            )
            missing = [lib for lib in LIBRARY_ORDER if lib not in set(d["library"])]
            title = f"connections={mode}"
            if missing:
                title += f"\n{', '.join(missing)}: {NOT_MEASURED}"
            ax.set_title(title, fontsize=10)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            _maybe_log(ax, d[metric])
    _figure_legend(fig, axes, "library")
    return fig


def fig5_target_vs_achieved_rps(tidy: pd.DataFrame) -> Figure:
    """Achieved vs target RPS of every point; load-generator-limited and failed points marked."""
    pts = per_point(tidy, ["target_rps", "achieved_rps", "throughput_rps"])
    xlabel, ylabel = "target request rate (RPS)", "rate in the measured window (RPS)"
    fig, axes = _figure(1, 2, width_ratios=[1.2, 1])
    ax, ax2 = axes[0, 0], axes[0, 1]
    d = pts.dropna(subset=["target_rps", "achieved_rps"]) if not pts.empty else pts
    notes = []
    if not pts.empty and len(d) < len(pts):
        left = pts[~pts["point_id"].isin(d["point_id"])]
        bursts = int((left.get("pattern", pd.Series(dtype=object)) == "burst").sum())
        if bursts:
            notes.append(f"{bursts} burst point(s) not shown: a burst has no target rate")
        if len(left) > bursts:
            notes.append(f"{len(left) - bursts} point(s) without an achieved rate not shown")
    _title(fig, "fig5_target_vs_achieved_rps", notes)
    if d.empty:
        not_measured(ax, "(no point with a target and an achieved rate)", xlabel, ylabel)
        not_measured(ax2, "", xlabel, "achieved / target (%)")
        return fig
    kept, failed = "load generator kept up", "point failed"
    d = d.assign(
        outcome=[_loadgen_outcome(r) for r in d.to_dict("records")],
        ratio=100 * d["achieved_rps"] / d["target_rps"],
        rate=d["target_rps"].map(_rate_label),
    )
    limits = sorted(o for o in set(d["outcome"]) if o not in (kept, failed))
    outcomes = [o for o in (kept, *limits, failed) if o in set(d["outcome"])]
    markers = {kept: "o", failed: "s", **dict.fromkeys(limits, "X")}
    colours = {kept: "tab:green", failed: "0.3"}
    colours.update(zip(limits, ["tab:red", "tab:orange", "tab:purple"], strict=False))
    hue = "library" if "library" in d.columns and d["library"].nunique() > 1 else None
    sns.scatterplot(
        data=d,
        x="target_rps",
        y="achieved_rps",
        hue=hue,
        style="outcome",
        style_order=outcomes,
        markers=markers,
        s=60,
        alpha=0.8,
        ax=ax,
    )
    if d["throughput_rps"].notna().any():
        ax.scatter(
            d["target_rps"],
            d["throughput_rps"],
            marker="_",
            s=120,
            color="0.2",
            label="successful answers per second",
            zorder=3,
        )
    top = max(d["target_rps"].max(), d["achieved_rps"].max()) * 1.1
    ax.plot([0, top], [0, top], color="0.5", linestyle="--", linewidth=1, label="achieved = target")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _maybe_log(ax, d["target_rps"], axis="x")
    if ax.get_xscale() == "log":
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.legend(fontsize=8)
    ax.set_title("every point", fontsize=10)
    sns.stripplot(
        data=d,
        x="rate",
        y="ratio",
        hue="outcome",
        hue_order=outcomes,
        order=[_rate_label(r) for r in order(d["target_rps"].unique())],
        palette=colours,
        jitter=0.25,
        alpha=0.8,
        ax=ax2,
    )
    ax2.axhline(100, color="0.5", linestyle="--", linewidth=1)
    ax2.set_xlabel(xlabel)
    ax2.set_ylabel("achieved / target (%)")
    ax2.set_title("achieved as a share of the target", fontsize=10)
    ax2.legend(fontsize=8)
    return fig


def _loadgen_outcome(point: dict[str, Any]) -> str:
    """'kept up', 'point failed', or 'was the limit (what limited it)' from point.json."""
    if point.get("status") != "ok":
        return "point failed"
    if str(point.get("loadgen.limited")).lower() not in ("true", "1", "1.0"):
        return "load generator kept up"
    why = point.get("loadgen.limited_by")
    try:
        reasons = json.loads(why) if isinstance(why, str) else []
    except ValueError:
        reasons = [why]
    names = {"cpu": "its CPU", "late_slots": "requests sent late"}
    text = ", ".join(names.get(r, str(r)) for r in reasons)
    return "load generator was the limit" + (f" ({text})" if text else "")


def fig6_variability(tidy: pd.DataFrame) -> Figure:
    """Coefficient of variation of p50 and p99 across trials, per configuration and rate."""
    pts = per_point(tidy, ["latency_p50", "latency_p99"])
    pts = pts[pts["status"] == "ok"] if not pts.empty else pts
    xlabel, ylabel = "target request rate (RPS)", "coefficient of variation across trials (%)"
    fig, axes = _figure(1, 1)
    ax = axes[0, 0]
    config = [c for c in params_of(pts) if c not in ("trial", "seed")] if not pts.empty else []
    rows = []
    if config:
        for key, g in pts.groupby(config, dropna=False):
            if len(g) < 2:
                continue
            for metric, label in (("latency_p50", "p50"), ("latency_p99", "p99")):
                cv = coefficient_of_variation(g[metric].tolist())
                if not math.isnan(cv):
                    rec = dict(zip(config, key if isinstance(key, tuple) else (key,), strict=True))
                    rows.append(
                        {**rec, "statistic": label, "cv_percent": 100 * cv, "trials": len(g)}
                    )
    cv = pd.DataFrame(rows)
    trials = _trials_text(cv["trials"]).replace(" per bar", "") if not cv.empty else ""
    _title(
        fig,
        "fig6_variability",
        [f"one dot per configuration ({trials}); sample SD / mean" if trials else ""],
    )
    if cv.empty or "rps" not in cv.columns or cv["rps"].isna().all():
        not_measured(
            ax, "(needs at least 2 trials of a sustained-load configuration)", xlabel, ylabel
        )
        return fig
    cv = cv.dropna(subset=["rps"]).assign(rate=lambda x: x["rps"].map(_rate_label))
    rate_order = [_rate_label(r) for r in order(cv["rps"].unique())]
    sns.stripplot(
        data=cv,
        x="rate",
        y="cv_percent",
        hue="statistic",
        order=rate_order,
        dodge=True,
        alpha=0.6,
        ax=ax,
    )
    sns.pointplot(
        data=cv,
        x="rate",
        y="cv_percent",
        hue="statistic",
        order=rate_order,
        dodge=0.4,
        errorbar=None,
        markers="_",
        linestyles="none",
        ax=ax,
        legend=False,
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(title="statistic (bar: mean)", fontsize=8)
    return fig


BUILDERS: dict[str, Callable[[pd.DataFrame], Figure]] = {
    "fig1_load_percentiles": fig1_load_percentiles,
    "fig2_mean_response_by_host": fig2_mean_response_by_host,
    "fig3_sshd_profiles": fig3_sshd_profiles,
    "fig4_libraries_and_modes": fig4_libraries_and_modes,
    "fig5_target_vs_achieved_rps": fig5_target_vs_achieved_rps,
    "fig6_variability": fig6_variability,
}
assert tuple(BUILDERS) == FIGURES


def draw(stem: str, tidy: pd.DataFrame, png: Path) -> tuple[Path, Path]:
    """Build one figure and save it as PNG (fixed pixel size) and PDF beside it."""
    if stem not in BUILDERS:
        raise ValueError(f"unknown figure {stem!r}; known: {', '.join(BUILDERS)}")
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    pdf = png.with_suffix(".pdf")
    # seaborn's strip jitter draws from numpy's global generator: seed it, so the same
    # table gives the same figure, byte for byte (no creation date in the files either).
    np.random.seed(JITTER_SEED)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.8):
        fig = BUILDERS[stem](tidy)
        try:
            fig.savefig(png, dpi=DPI, metadata={"Software": None})
            fig.savefig(pdf, metadata={"CreationDate": None, "Producer": None})
        finally:
            plt.close(fig)
    log.info("figure %s -> %s, %s", stem, png, pdf)
    return png, pdf
