"""The study's figures and our own, drawn with seaborn from the tidy table.

Each figure is a function tidy -> Shown (a matplotlib Figure of FIGSIZE at DPI, or None and
why there is nothing to show); ``draw`` saves PNG, PDF and a small JSON saying what the
figure shows (the report reads it: a figure with nothing to show is one line there). Only
what the sweep measured is drawn: no panel for a combination it never asked for. When a
factor is not what a figure is about, the figure keeps one level of it (the study's
configuration where the sweep has it) and says which in its subtitle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from analysis.common import NOT_MEASURED_TEXT, isnan, order
from analysis.figures_resources import fig7_cpu_per_request, fig8_capacity
from analysis.plotting import (
    DPI,
    FIGSIZE,
    HEIGHT_PX,
    WIDTH_PX,
    Shown,
    ci,
    figure_grid,
    figure_legend,
    finite,
    maybe_log,
    nothing,
    palette,
    panels,
    rate_label,
    saturation_notes,
    title,
)
from analysis.select import (
    LIBRARY_ORDER,
    MODE_ORDER,
    PERCENTILES,
    PROFILE_ORDER,
    STUDY,
    TCP_ORDER,
    http_load,
    keep_one,
    latency_metric,
    ok_points,
    params_of,
    per_point,
    service_metric,
    study_config,
)
from analysis.stats import coefficient_of_variation
from sshbench.paths import FIGURES

__all__ = ["BUILDERS", "DPI", "FIGSIZE", "HEIGHT_PX", "WIDTH_PX", "Shown", "draw"]

log = logging.getLogger(__name__)

JITTER_SEED = 0
NO_SUSTAINED = "no sustained-load point with latencies"


def _trials_text(counts: pd.Series) -> str:
    if counts.empty:
        return "no trials"
    lo, hi = int(counts.min()), int(counts.max())
    if lo == hi == 1:
        return "1 trial each: no CI"
    return f"{lo} trials each" if lo == hi else f"{lo}-{hi} trials each"


# ---------------------------------------------------------------- figure 1


def fig1_load_percentiles(tidy: pd.DataFrame) -> Shown:
    """Latency percentiles (from the schedule; service time dashed) per request rate."""
    lat = [latency_metric(q) for q in PERCENTILES]
    svc = [service_metric(q) for q in PERCENTILES]
    pts = ok_points(per_point(tidy, [*lat, *svc]))
    pts, notes = study_config(pts)
    if pts.empty or "rps" not in pts.columns or pts[lat].isna().all().all():
        return nothing(NO_SUSTAINED)
    frames = []
    for measure, metrics, prefix in (("latency", lat, "latency_p"), ("service", svc, "service_p")):
        long = pts.melt(
            id_vars=[c for c in pts.columns if c not in (*lat, *svc)],
            value_vars=metrics,
            var_name="metric",
            value_name="ms",
        )
        long["percentile"] = long["metric"].str.removeprefix(prefix)
        long["measure"] = measure
        frames.append(long)
    long = pd.concat(frames, ignore_index=True)
    long["ms"] = finite(long["ms"])  # a missed slot makes a percentile infinite
    long = long.dropna(subset=["ms"])
    long["target RPS"] = long["rps"].map(rate_label)
    rate_order = [rate_label(r) for r in order(pts["rps"].unique())]
    colours = palette(rate_order)
    dims = [("host", ()), ("profile", PROFILE_ORDER), ("command", ("uptime", "ls"))]
    cells = panels(long, dims)
    fig, axes = figure_grid(len(cells))
    notes += [
        "solid: latency from the intended send time; dashed: service time from the actual send",
        "mean over trials, band: Student t 95 % CI",
        *saturation_notes(pts),
    ]
    title(fig, "fig1_load_percentiles", notes)
    xlabel, ylabel = "percentile of requests (%)", "time (ms)"
    for ax, (panel, d) in zip(axes, cells, strict=True):
        sns.lineplot(
            data=d,
            x="percentile",
            y="ms",
            hue="target RPS",
            hue_order=[r for r in rate_order if r in set(d["target RPS"])],
            palette=colours,
            style="measure",
            style_order=["latency", "service"],
            dashes={"latency": "", "service": (4, 2)},
            markers={"latency": "o", "service": "."},
            errorbar=ci,
            ax=ax,
            sort=False,
            legend=False,
        )
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        maybe_log(ax, d["ms"])
    handles = [Line2D([], [], color=colours[r], marker="o", label=f"{r} RPS") for r in rate_order]
    handles += [
        Line2D([], [], color="0.3", marker="o", label="latency (from schedule)"),
        Line2D([], [], color="0.3", dashes=(4, 2), marker=".", label="service time"),
    ]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, title="target rate")
    return Shown(fig)


# ---------------------------------------------------------------- figure 2


def fig2_mean_response_by_host(tidy: pd.DataFrame) -> Shown:
    """Mean latency with 95 % CI over trials, per host, command and rate."""
    pts = ok_points(per_point(tidy, ["latency_mean"]))
    pts, notes = study_config(pts)
    pts = pts.dropna(subset=["latency_mean"]) if not pts.empty else pts
    if pts.empty or "rps" not in pts.columns:
        return nothing(NO_SUSTAINED)
    config = [c for c in params_of(pts)]
    ntrials = pts.groupby(config, dropna=False).size()
    notes.append(f"bars: mean over trials, whiskers: Student t 95 % CI, {_trials_text(ntrials)}")
    if "host" not in pts.columns or pts["host"].nunique() < 2:
        notes.append(f"a second host: {NOT_MEASURED_TEXT}")
    notes += saturation_notes(pts)
    pts = pts.assign(rate=pts["rps"].map(rate_label))
    rates = [rate_label(r) for r in order(pts["rps"].unique())]
    hosts = order(pts["host"].unique()) if "host" in pts.columns else None
    cells = panels(pts, [("profile", PROFILE_ORDER), ("command", ("ls", "uptime"))])
    fig, axes = figure_grid(len(cells))
    title(fig, "fig2_mean_response_by_host", notes)
    for ax, (panel, d) in zip(axes, cells, strict=True):
        sns.barplot(
            data=d,
            x="rate",
            y="latency_mean",
            hue="host" if hosts else None,
            hue_order=hosts,
            palette=palette(hosts) if hosts else None,
            order=[r for r in rates if r in set(d["rate"])],
            errorbar=ci,
            capsize=0.15,
            ax=ax,
        )
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel("target request rate (RPS)")
        ax.set_ylabel("mean latency (ms)")
    figure_legend(fig, axes, "host")
    return Shown(fig)


# ---------------------------------------------------------------- figure 3


def fig3_sshd_profiles(tidy: pd.DataFrame) -> Shown:
    """Successes and failures (by class) per load under each sshd profile the sweep ran."""
    metric_names = tidy["metric"].unique() if "metric" in tidy.columns else []
    fail_metrics = sorted(m for m in metric_names if str(m).startswith("failures_"))
    pts = http_load(per_point(tidy, ["successes", "failures", *fail_metrics]))
    if not pts.empty and "integrity" in pts.columns:
        pts = pts[pts["integrity"].fillna("ok") == "ok"]
    notes = []
    for col in ("library", "connections", "host_cpus", "client_tcp"):
        pts, note = keep_one(pts, col, STUDY.get(col))
        notes.append(note)
    if pts.empty or "profile" not in pts.columns or pts["successes"].isna().all():
        return nothing("no point with request counts under an sshd profile")
    notes.append("summed over hosts, commands and trials; failed points included")
    notes += saturation_notes(pts)
    cells = panels(pts, [("pattern", ("sustained", "burst")), ("profile", PROFILE_ORDER)])
    if len(cells) == 1 and not cells[0][0]:
        cells = [(f"profile={pts['profile'].iloc[0]}", pts)]
    fig, axes = figure_grid(len(cells))
    title(fig, "fig3_sshd_profiles", notes)
    classes = [m.removeprefix("failures_") for m in fail_metrics]
    colours = {"success": sns.color_palette("tab10")[2], **palette(classes, skip=(2,))}
    for ax, (panel, d) in zip(axes, cells, strict=True):
        burst = "pattern" in d.columns and (d["pattern"] == "burst").all()
        xcol = "burst_size" if burst and "burst_size" in d.columns else "rps"
        sums = d.groupby(xcol)[["successes", *fail_metrics]].sum(min_count=1).fillna(0)
        sums = sums.loc[order(sums.index)]
        x = np.arange(len(sums))
        bottom = np.zeros(len(sums))
        for name, col in [("success", "successes")] + [(c, f"failures_{c}") for c in classes]:
            vals = sums[col].to_numpy(dtype=float)
            if name != "success" and not vals.any():
                continue
            ax.bar(x, vals, bottom=bottom, color=colours[name], label=name, width=0.7)
            bottom += vals
        for xi, (ok, tot) in enumerate(zip(sums["successes"], bottom, strict=True)):
            ax.annotate(
                f"{int(tot - ok)} failed",
                (xi, tot),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )
        ax.set_xticks(x, [rate_label(v) for v in sums.index])
        ax.set_ylim(0, max(1.0, float(bottom.max())) * 1.12)  # room for the labels
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel("burst size" if xcol == "burst_size" else "target RPS")
        ax.set_ylabel("requests (sum over points)")
        ax.legend()
    figure_legend(fig, axes, "outcome")
    return Shown(fig)


# ---------------------------------------------------------------- figure 4


def fig4_libraries_and_modes(tidy: pd.DataFrame) -> Shown:
    """Median and p99 latency per rate: libraries side by side, a column per connection mode
    and client TCP mode (the per-request floor both ways: default and quickack)."""
    pts = ok_points(per_point(tidy, ["latency_p50", "latency_p99"]))
    notes = []
    compared = ("library", "connections", "client_tcp", "rps")
    for col, pref in (
        ("pattern", "sustained"),
        ("profile", "tuned"),
        ("command", "uptime"),
        ("host_cpus", STUDY["host_cpus"]),
    ):
        pts, note = keep_one(pts, col, pref, cover=compared)
        notes.append(note)
    pts, note = keep_one(pts, "host", None, cover=compared)
    if pts.empty or "library" not in pts.columns or "rps" not in pts.columns:
        return nothing(NO_SUSTAINED)
    notes += [note, "mean over trials, Student t 95 % CI", *saturation_notes(pts)]
    stats = [("latency_p50", "median latency (ms)"), ("latency_p99", "p99 latency (ms)")]
    for col in ("connections", "client_tcp"):  # a sweep from before an axis: its one level
        if col not in pts.columns:
            pts = pts.assign(**{col: STUDY[col]})
    modes = [
        (conn, tcp)
        for conn in order(pts["connections"].dropna().unique(), MODE_ORDER)
        for tcp in order(pts["client_tcp"].dropna().unique(), TCP_ORDER)
        if ((pts["connections"] == conn) & (pts["client_tcp"] == tcp)).any()
    ]

    def in_mode(mode: tuple[str, str]) -> pd.DataFrame:
        return pts[(pts["connections"] == mode[0]) & (pts["client_tcp"] == mode[1])]

    cells = [(m, s) for s in stats for m in modes if not in_mode(m)[s[0]].dropna().empty]
    if not cells:
        return nothing(NO_SUSTAINED)
    ncols = len({m for m, _ in cells})  # a row per statistic, a column per mode
    fig, axes = figure_grid(len(cells), ncols=ncols if len(cells) % ncols == 0 else 0)
    title(fig, "fig4_libraries_and_modes", notes)
    libs = order(pts["library"].unique(), LIBRARY_ORDER)
    colours = palette(order([*libs, *LIBRARY_ORDER], LIBRARY_ORDER))
    for ax, (mode, (metric, ylabel)) in zip(axes, cells, strict=True):
        d = in_mode(mode).dropna(subset=[metric])
        d = d.assign(rate=d["rps"].map(rate_label), **{metric: finite(d[metric])})
        present = [lib for lib in libs if lib in set(d["library"])]
        sns.pointplot(
            data=d,
            x="rate",
            y=metric,
            hue="library",
            hue_order=present,
            palette=colours,
            order=[rate_label(r) for r in order(d["rps"].unique())],
            errorbar=ci,
            dodge=0.3 if len(present) > 1 else False,  # seaborn divides by levels - 1
            capsize=0.1,
            ax=ax,
        )
        ax.set_title(f"connections={mode[0]}, client TCP={mode[1]}", fontsize=9)
        ax.set_xlabel("target request rate (RPS)")
        ax.set_ylabel(ylabel)
        maybe_log(ax, d[metric])
    figure_legend(fig, axes, "library")
    return Shown(fig)


# ---------------------------------------------------------------- figure 5

KEPT = "nothing ran out"
FAILED = "point failed"


def _outcome(point: dict) -> str:
    """The point's outcome in the tidy saturation wording (failed points said so)."""
    if point.get("status") != "ok":
        return FAILED
    text = point.get("saturation")
    return text if isinstance(text, str) and text else KEPT


def fig5_target_vs_achieved_rps(tidy: pd.DataFrame) -> Shown:
    """Achieved vs target RPS of every point; saturated, generator-limited, failed marked."""
    pts = http_load(per_point(tidy, ["target_rps", "achieved_rps", "throughput_rps"]))
    d = pts.dropna(subset=["target_rps", "achieved_rps"]) if not pts.empty else pts
    if d.empty:
        return nothing("no point with a target and an achieved rate (bursts have none)")
    notes = []
    left = pts[~pts["point_id"].isin(d["point_id"])]
    bursts = int((left.get("pattern", pd.Series(dtype=object)) == "burst").sum())
    if bursts:
        notes.append(f"{bursts} burst point(s) not shown: a burst has no target rate")
    if len(left) > bursts:
        notes.append(f"{len(left) - bursts} point(s) without an achieved rate not shown")
    fig, (ax, ax2) = figure_grid(2, width_ratios=[1.2, 1])
    title(fig, "fig5_target_vs_achieved_rps", notes)
    d = d.assign(
        outcome=[_outcome(r) for r in d.to_dict("records")],
        ratio=100 * d["achieved_rps"] / d["target_rps"],
        rate=d["target_rps"].map(rate_label),
    )
    limits = sorted(o for o in set(d["outcome"]) if o not in (KEPT, FAILED))
    outcomes = [o for o in (KEPT, *limits, FAILED) if o in set(d["outcome"])]
    markers = {KEPT: "o", FAILED: "s", **dict.fromkeys(limits, "X")}
    colours = {KEPT: "tab:green", FAILED: "0.3"}
    colours.update(zip(limits, ["tab:red", "tab:orange", "tab:purple", "tab:brown"], strict=False))
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
    ax.set_xlabel("target request rate (RPS)")
    ax.set_ylabel("sent (marker) and ok answers (bar) per second")
    maybe_log(ax, d["target_rps"], axis="x")
    if ax.get_xscale() == "log":
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
    ax.legend(fontsize=7)
    ax.set_title("every point", fontsize=9)
    sns.stripplot(
        data=d,
        x="rate",
        y="ratio",
        hue="outcome",
        hue_order=outcomes,
        order=[rate_label(r) for r in order(d["target_rps"].unique())],
        palette=colours,
        jitter=0.25,
        alpha=0.8,
        ax=ax2,
    )
    ax2.axhline(100, color="0.5", linestyle="--", linewidth=1)
    ax2.set_xlabel("target request rate (RPS)")
    ax2.set_ylabel("achieved / target (%)")
    ax2.set_title("achieved as a share of the target", fontsize=9)
    ax2.legend(fontsize=7)
    return Shown(fig)


# ---------------------------------------------------------------- figure 6


def fig6_variability(tidy: pd.DataFrame) -> Shown:
    """Coefficient of variation of latency p50 and p99 across trials, per configuration."""
    pts = ok_points(per_point(tidy, ["latency_p50", "latency_p99"]))
    config = params_of(pts) if not pts.empty else []
    rows = []
    if config and "rps" in config:
        for key, g in pts.groupby(config, dropna=False):
            if len(g) < 2:
                continue
            for metric, label in (("latency_p50", "p50"), ("latency_p99", "p99")):
                cv = coefficient_of_variation(finite(g[metric]).dropna().tolist())
                if not isnan(cv):
                    rec = dict(zip(config, key if isinstance(key, tuple) else (key,), strict=True))
                    rows.append(
                        {**rec, "statistic": label, "cv_percent": 100 * cv, "trials": len(g)}
                    )
    cv = pd.DataFrame(rows)
    if cv.empty or cv["rps"].isna().all():
        return nothing("no sustained-load configuration with 2 or more trials")
    trials = _trials_text(cv["trials"])
    fig, (ax,) = figure_grid(1)
    title(fig, "fig6_variability", [f"one dot per configuration ({trials}); sample SD / mean"])
    cv = cv.dropna(subset=["rps"]).assign(rate=lambda x: x["rps"].map(rate_label))
    rates = [rate_label(r) for r in order(cv["rps"].unique())]
    sns.stripplot(
        data=cv,
        x="rate",
        y="cv_percent",
        hue="statistic",
        order=rates,
        dodge=True,
        alpha=0.6,
        ax=ax,
    )
    sns.pointplot(
        data=cv,
        x="rate",
        y="cv_percent",
        hue="statistic",
        order=rates,
        dodge=0.4,
        errorbar=None,
        markers="_",
        linestyles="none",
        ax=ax,
        legend=False,
    )
    ax.set_xlabel("target request rate (RPS)")
    ax.set_ylabel("coefficient of variation across trials (%)")
    ax.legend(title="statistic (bar: mean)", fontsize=8)
    return Shown(fig)


BUILDERS: dict[str, Callable[[pd.DataFrame], Shown]] = {
    "fig1_load_percentiles": fig1_load_percentiles,
    "fig2_mean_response_by_host": fig2_mean_response_by_host,
    "fig3_sshd_profiles": fig3_sshd_profiles,
    "fig4_libraries_and_modes": fig4_libraries_and_modes,
    "fig5_target_vs_achieved_rps": fig5_target_vs_achieved_rps,
    "fig6_variability": fig6_variability,
    "fig7_cpu_per_request": fig7_cpu_per_request,
    "fig8_capacity": fig8_capacity,
}
assert tuple(BUILDERS) == FIGURES


def _placeholder(why: str) -> plt.Figure:
    """The file a figure rule must still write when there is nothing to show (the report
    shows the reason as a line instead of this image)."""
    fig = plt.figure(figsize=(6.0, 0.6), dpi=DPI)
    fig.text(0.5, 0.5, f"{NOT_MEASURED_TEXT}: {why}", ha="center", va="center", fontsize=8)
    return fig


def draw(stem: str, tidy: pd.DataFrame, png: Path) -> tuple[Path, Path]:
    """Build one figure; save PNG (fixed pixel size), PDF and what it shows (JSON) beside it."""
    if stem not in BUILDERS:
        raise ValueError(f"unknown figure {stem!r}; known: {', '.join(BUILDERS)}")
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    pdf, info = png.with_suffix(".pdf"), png.with_suffix(".json")
    # seaborn's strip jitter draws from numpy's global generator: seed it, so the same
    # table gives the same figure, byte for byte (no creation date in the files either).
    np.random.seed(JITTER_SEED)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.8):
        shown = BUILDERS[stem](tidy)
        fig = shown.fig if shown.fig is not None else _placeholder(shown.why)
        try:
            fig.savefig(png, dpi=DPI, metadata={"Software": None})
            fig.savefig(pdf, metadata={"CreationDate": None, "Producer": None})
        finally:
            plt.close(fig)
    record = {"stem": stem, "shown": shown.fig is not None, "why": shown.why}
    info.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    log.info("figure %s -> %s (%s)", stem, png, "drawn" if record["shown"] else shown.why)
    return png, pdf


def shown_info(png: Path) -> dict:
    """What draw() recorded for a figure: {"shown": bool, "why": str}."""
    info = Path(png).with_suffix(".json")
    if not info.exists():
        return {"shown": Path(png).exists(), "why": "figure not built"}
    return json.loads(info.read_text())
