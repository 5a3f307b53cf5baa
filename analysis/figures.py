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
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from analysis.claims_spec import study_reference
from analysis.common import NOT_MEASURED_TEXT, isnan, order, same
from analysis.figures_resources import fig7_cpu_per_request, fig8_capacity
from analysis.figures_transfer import fig10_transfer
from analysis.plotting import (
    DPI,
    ENVIRONMENT_MARKER,
    FIGSIZE,
    HEIGHT_PX,
    HOST_COLOURS,
    LIBRARY_COLOURS,
    MAX_COLUMNS,
    SATURATED_MARKER,
    WIDTH_PX,
    Shown,
    ci,
    failure_colours,
    figure_grid,
    finite,
    fixed_colours,
    limit_handles,
    limit_kind,
    limits_of,
    log_label,
    maybe_log,
    nothing,
    panels,
    rate_colours,
    rate_label,
    title,
)
from analysis.select import (
    LIBRARY_ORDER,
    MODE_ORDER,
    PROFILE_ORDER,
    STUDY,
    TCP_ORDER,
    http_load,
    keep_one,
    latency_metric,
    ok_points,
    param_columns,
    per_point,
    study_config,
)
from analysis.stats import coefficient_of_variation
from measure.metrics import PERCENTILES
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

# The talk's own numbers on its load-test figure, drawn as the study's marks: (target RPS,
# percentile, latency bound in ms, label). Source: the seed slides, Fig. "Load test results
# for SSH API" (paper/claims.yaml: p99_under_2s_at_90rps, p90_under_1s_at_50rps).
STUDY_MARKS: tuple[tuple[float, float, float, str], ...] = study_reference().marks
NOT_ANSWERED = "not answered"
PCT_LABELS = [f"{q:g}" for q in PERCENTILES]


def percentile_curves(pts: pd.DataFrame) -> pd.DataFrame:
    """One curve per target rate: the mean over trials of each latency percentile.

    A trial's percentiles are non-decreasing (one sorted sample, failed and missed slots
    +inf); a mean that meets inf is inf ("not answered"), never dropped; so each curve is
    non-decreasing by construction. Columns: rps, percentile, x (its position), ms (mean, inf
    when not answered), low, high (Student t 95 % over finite trials; NaN with one trial),
    trials.
    """
    rows = []
    for rps, g in pts.groupby("rps"):
        for x, q in enumerate(PERCENTILES):
            vals = pd.to_numeric(g[latency_metric(q)], errors="coerce").dropna().to_numpy(float)
            if not len(vals):
                continue
            mean = float(np.mean(vals)) if np.isfinite(vals).all() else np.inf
            low = high = np.nan
            if np.isfinite(mean) and len(vals) > 1:
                low, high = ci(vals)
            rows.append(
                {
                    "rps": rps,
                    "percentile": q,
                    "x": x,
                    "ms": mean,
                    "low": low,
                    "high": high,
                    "trials": len(vals),
                }
            )
    return pd.DataFrame(rows, columns=["rps", "percentile", "x", "ms", "low", "high", "trials"])


def _marker_style(kind: str, colour: Any) -> dict[str, Any]:
    if kind == "environment":
        return {"marker": ENVIRONMENT_MARKER, "color": colour, "markersize": 7}
    if kind == "saturated":
        return {"marker": "o", "color": colour, "markersize": 6, **SATURATED_MARKER}
    return {"marker": "o", "color": colour, "markersize": 5}


def _draw_curves(
    ax: plt.Axes, strip: plt.Axes | None, pts: pd.DataFrame, colours: dict[Any, Any]
) -> list[float]:
    """Each rate's percentile curve on ax; not-answered percentiles as a marker on the strip
    above it (the top edge). Returns the finite values drawn (for the axis range)."""
    curves = percentile_curves(pts)
    drawn: list[float] = []
    rates = order(curves["rps"].unique())
    for i, rps in enumerate(rates):
        c = curves[curves["rps"] == rps]
        at = pts[pts["rps"] == rps]
        style = _marker_style(limit_kind(at), colours[rps])
        ok = c[np.isfinite(c["ms"])]
        ax.plot(ok["x"], ok["ms"], linewidth=1.6, **style)
        band = ok.dropna(subset=["low", "high"])
        if len(band):
            ax.fill_between(band["x"], band["low"], band["high"], color=colours[rps], alpha=0.15)
        drawn += [*ok["ms"], *band["low"], *band["high"]]
        na = c[~np.isfinite(c["ms"])]
        if len(na) and strip is not None:
            y = (i - (len(rates) - 1) / 2) * min(0.5, 1.6 / len(rates))  # rates side by side
            strip.plot(na["x"], np.full(len(na), y), linestyle="none", **{**style, "marker": "^"})
    return [v for v in drawn if np.isfinite(v)]


def _study_marks(ax: plt.Axes, colours: dict[Any, Any]) -> list[Line2D]:
    handles = []
    for rps, q, ms, label in STUDY_MARKS:
        colour = next((c for r, c in colours.items() if same(r, rps)), "0.4")
        x = PERCENTILES.index(q)
        style = {"marker": "v", "markersize": 11, "markerfacecolor": "none"}
        ax.plot([x], [ms], linestyle="none", color=colour, markeredgewidth=2, **style)
        handles.append(
            Line2D([], [], linestyle="none", color=colour, markeredgewidth=2, label=label, **style)
        )
    return handles


def _percentile_axes(ax: plt.Axes, strip: plt.Axes | None, xlabel: bool, ylabel: bool) -> None:
    ax.set_xticks(range(len(PERCENTILES)), PCT_LABELS)
    ax.set_xlim(-0.4, len(PERCENTILES) - 0.6)
    if xlabel:
        ax.set_xlabel("percentile of requests (%)")
    else:
        ax.tick_params(labelbottom=False)
    if ylabel:
        ax.set_ylabel("latency (ms)")
    if strip is not None:
        strip.set_ylim(-1, 1)
        strip.set_yticks([0], [NOT_ANSWERED] if ylabel else [""])
        strip.tick_params(labelbottom=False, length=0)
        strip.grid(False)
        strip.set_facecolor("#f4f4f4")


def _y_range(axes: list[plt.Axes], values: list[float], log: bool) -> None:
    v = [x for x in values if np.isfinite(x) and (x > 0 or not log)]
    if not v:
        return
    lo, hi = min(v), max(v)
    for ax in axes:
        if log:
            ax.set_yscale("log")
            ax.set_ylim(lo / 1.5, hi * 1.5)
        else:
            ax.set_ylim(0, hi * 1.1)


def _fig1_points(tidy: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    lat = [latency_metric(q) for q in PERCENTILES]
    pts = ok_points(per_point(tidy, lat))
    pts, notes = study_config(pts)
    if pts.empty or "rps" not in pts.columns:
        return pts.iloc[0:0], notes
    pts = pts.dropna(subset=["rps"])
    pts = pts[pts[lat].notna().any(axis=1)]
    return pts, notes


def _wants_log(values: list[float]) -> bool:
    v = [x for x in values if np.isfinite(x) and x > 0]
    return bool(v) and max(v) / min(v) > 30


def fig1_load_percentiles(tidy: pd.DataFrame) -> Shown:
    """The study's load-test figure: one panel, latency per percentile, a line per rate."""
    pts, notes = _fig1_points(tidy)
    for col, pref in (("host", "taco"), ("profile", "default"), ("command", "uptime")):
        pts, note = keep_one(pts, col, pref, cover=("rps",))
        notes.append(note)
    if pts.empty:
        return nothing(NO_SUSTAINED)
    colours = rate_colours(pts["rps"].unique())
    unanswered = not np.isfinite(percentile_curves(pts)["ms"]).all()
    fig = plt.figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    if unanswered:
        strip, ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 11])
    else:
        strip, ax = None, fig.subplots(1, 1)
    values = _draw_curves(ax, strip, pts, colours)
    marks = _study_marks(ax, colours)
    values += [ms for _, _, ms, _ in STUDY_MARKS]
    log = _wants_log(values)
    _y_range([ax], values, log)
    _percentile_axes(ax, strip, xlabel=True, ylabel=True)
    if log:
        log_label(ax)
    notes = title(fig, "fig1_load_percentiles", notes)
    handles = [
        Line2D([], [], color=colours[r], marker="o", label=f"{rate_label(r)} RPS")
        for r in order(pts["rps"].unique())
    ]
    handles += marks
    handles += limit_handles(_by_kind(pts))
    if unanswered:
        handles.append(
            Line2D([], [], color="0.3", marker="^", linestyle="none", label=NOT_ANSWERED)
        )
    fig.legend(handles=handles, loc="outside right center", fontsize=8, title="target rate")
    ntrials = pts.groupby("rps").size()
    notes.append(f"mean over trials ({_trials_text(ntrials)}); band: Student t 95 % CI")
    return Shown(fig, notes=notes)


def _by_kind(pts: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Points by what limited them: saturated (the system under test) or environment."""
    if "limit_kind" in pts.columns:
        kind = pts["limit_kind"].fillna("none").astype(str)
        env = kind == "environment"
        sat = kind.isin(["saturated", "generator"])
        return {"saturated": pts[sat], "environment": pts[env]}
    if "saturation" in pts.columns:
        return {"saturated": pts[pts["saturation"].fillna("").astype(str) != ""]}
    return {}


def fig1b_load_variants(tidy: pd.DataFrame) -> Shown:
    """Figure 1 for every host, sshd profile and command the sweep ran: small multiples with
    shared axes."""
    pts, notes = _fig1_points(tidy)
    if pts.empty:
        return nothing(NO_SUSTAINED)
    cells = panels(pts, [("host", ()), ("profile", PROFILE_ORDER), ("command", ("uptime", "ls"))])
    if len(cells) < 2:
        return nothing("one host, sshd profile and command: figure 1 shows all of it")
    colours = rate_colours(pts["rps"].unique())
    unanswered = not np.isfinite(percentile_curves(pts)["ms"]).all()
    ncols = min(len(cells), MAX_COLUMNS)
    nrows = -(-len(cells) // ncols)
    fig = plt.figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(nrows, ncols)
    mains, values = [], []
    for i, (panel, d) in enumerate(cells):
        r, col = divmod(i, ncols)
        spec = grid[r, col]
        if unanswered:
            sub = spec.subgridspec(2, 1, height_ratios=[1, 6 * nrows + 5])
            strip = fig.add_subplot(sub[0])
            ax = fig.add_subplot(sub[1], sharex=strip)
            strip.set_title(panel, fontsize=8)
        else:
            strip, ax = None, fig.add_subplot(spec)
            ax.set_title(panel, fontsize=8)
        values += _draw_curves(ax, strip, d, colours)
        last_row = i + ncols >= len(cells)
        _percentile_axes(ax, strip, xlabel=last_row, ylabel=col == 0)
        ax.tick_params(axis="x", labelsize=6, labelbottom=last_row)
        ax.tick_params(axis="y", labelleft=col == 0)
        mains.append(ax)
    log = _wants_log(values)
    _y_range(mains, values, log)
    if log:
        for ax in mains:
            if ax.get_ylabel():
                log_label(ax)
    notes = title(fig, "fig1b_load_variants", notes)
    handles = [
        Line2D([], [], color=colours[r], marker="o", label=f"{rate_label(r)} RPS")
        for r in order(pts["rps"].unique())
    ]
    handles += limit_handles(_by_kind(pts))
    if unanswered:
        handles.append(
            Line2D([], [], color="0.3", marker="^", linestyle="none", label=NOT_ANSWERED)
        )
    fig.legend(handles=handles, loc="outside right center", fontsize=8, title="target rate")
    notes.append("mean over trials; band: Student t 95 % CI")
    return Shown(fig, notes=notes)


# ---------------------------------------------------------------- figure 2


def fig2_mean_response_by_host(tidy: pd.DataFrame) -> Shown:
    """Mean latency with 95 % CI over trials, per host, command and rate."""
    pts = ok_points(per_point(tidy, ["latency_mean"]))
    pts, notes = study_config(pts)
    pts = pts.dropna(subset=["latency_mean"]) if not pts.empty else pts
    if pts.empty or "rps" not in pts.columns or pts["rps"].isna().all():
        return nothing(NO_SUSTAINED)
    pts = pts.dropna(subset=["rps"])
    config = [c for c in param_columns(pts)]
    ntrials = pts.groupby(config, dropna=False).size()
    notes.append(f"bars: mean over trials, whiskers: Student t 95 % CI, {_trials_text(ntrials)}")
    if "host" not in pts.columns or pts["host"].nunique() < 2:
        notes.append(f"a second host: {NOT_MEASURED_TEXT}")
    hosts = order(pts["host"].unique()) if "host" in pts.columns else [None]
    colours = fixed_colours(hosts, HOST_COLOURS)
    cells = panels(pts, [("profile", PROFILE_ORDER), ("command", ("ls", "uptime"))])
    fig, axes = figure_grid(len(cells), sharey=True)
    notes = title(fig, "fig2_mean_response_by_host", notes)
    width = 0.8 / len(hosts)
    values: list[float] = []
    unanswered = False
    for ax, (panel, d) in zip(axes, cells, strict=True):
        rates = order(d["rps"].unique())
        for hi, host in enumerate(hosts):
            dh = d if host is None else d[d["host"] == host]
            for xi, rps in enumerate(rates):
                g = dh[dh["rps"] == rps]
                vals = pd.to_numeric(g["latency_mean"], errors="coerce").dropna().to_numpy(float)
                if not len(vals):
                    continue
                x = xi - 0.4 + width * (hi + 0.5)
                if not np.isfinite(vals).all():
                    _top_edge(ax, x, colours[host])
                    unanswered = True
                    continue
                kind = limit_kind(g)
                mean = float(np.mean(vals))
                ax.bar(
                    x,
                    mean,
                    width=width * 0.9,
                    color="white" if kind == "saturated" else colours[host],
                    edgecolor=colours[host],
                    linewidth=1.5,
                    hatch="xx" if kind == "environment" else "",
                )
                values.append(mean)
                if len(vals) > 1:
                    low, high = ci(vals)
                    ax.plot([x, x], [low, high], color="0.15", linewidth=1)
                    values += [low, high]
        ax.set_xticks(range(len(rates)), [rate_label(r) for r in rates])
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel("target request rate (RPS)")
        ax.set_ylabel("mean latency (ms)" if ax is axes[0] else "")
    if values and max(values) > 0:
        top = max(values) * 1.1
        axes[0].set_ylim(0, top)
    handles = [
        Patch(facecolor=colours[h], edgecolor=colours[h], label=str(h))
        for h in hosts
        if h is not None
    ]
    for h in limit_handles(_by_kind(pts)):
        kind_env = h.get_marker() == ENVIRONMENT_MARKER
        handles.append(
            Patch(
                facecolor="white" if not kind_env else "0.7",
                edgecolor="0.3",
                hatch="xx" if kind_env else "",
                label=h.get_label(),
            )
        )
    if unanswered:
        handles.append(_not_answered_handle())
    if handles:
        fig.legend(handles=handles, loc="outside right center", fontsize=8, title="host")
    return Shown(fig, notes=notes)


def _top_edge(ax: plt.Axes, x: float, colour: Any) -> None:
    """A value that is not answered (inf): a marker on the panel's top edge, never dropped."""
    ax.plot(
        [x],
        [1.0],
        marker="^",
        color=colour,
        markersize=8,
        transform=ax.get_xaxis_transform(),
        clip_on=False,
        linestyle="none",
    )


def _not_answered_handle() -> Line2D:
    return Line2D(
        [], [], color="0.3", marker="^", linestyle="none", label="not answered (top edge)"
    )


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
    cells = panels(pts, [("pattern", ("sustained", "burst")), ("profile", PROFILE_ORDER)])
    if len(cells) == 1 and not cells[0][0]:
        cells = [(f"profile={pts['profile'].iloc[0]}", pts)]
    fig, axes = figure_grid(len(cells))
    notes = title(fig, "fig3_sshd_profiles", notes)
    classes = [m.removeprefix("failures_") for m in fail_metrics]
    colours = failure_colours(classes)
    limited = False
    drawn: list[str] = []
    for ax, (panel, d) in zip(axes, cells, strict=True):
        burst = "pattern" in d.columns and (d["pattern"] == "burst").all()
        xcol = "burst_size" if burst and "burst_size" in d.columns else "rps"
        d = d.dropna(subset=[xcol]) if xcol in d.columns else d.iloc[0:0]
        if d.empty:
            ax.set_axis_off()
            ax.set_title(f"{panel}: no rate or burst size", fontsize=9)
            continue
        sums = d.groupby(xcol)[["successes", *fail_metrics]].sum(min_count=1).fillna(0)
        sums = sums.loc[order(sums.index)]
        ran_out = [limit_kind(d[d[xcol] == v]) != "none" for v in sums.index]
        limited |= any(ran_out)
        x = np.arange(len(sums))
        bottom = np.zeros(len(sums))
        for name, col in [("success", "successes")] + [(c, f"failures_{c}") for c in classes]:
            vals = sums[col].to_numpy(dtype=float)
            if name != "success" and not vals.any():
                continue
            bars = ax.bar(x, vals, bottom=bottom, color=colours[name], width=0.7)
            for bar, ran in zip(bars, ran_out, strict=True):
                if ran:
                    bar.set_hatch("//")
                    bar.set_edgecolor("white")
            drawn.append(name)
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
    handles = [Patch(color=colours[n], label=n) for n in colours if n in drawn]
    if limited:
        words = ", ".join(limits_of(pts))
        handles.append(
            Patch(facecolor="0.6", hatch="//", edgecolor="white", label=f"limited by: {words}")
        )
    fig.legend(handles=handles, loc="outside right center", title="outcome", fontsize=8)
    return Shown(fig, notes=notes)


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
    if not pts.empty and "rps" in pts.columns:
        pts = pts.dropna(subset=["rps"])  # a burst has no rate
    if pts.empty or "library" not in pts.columns or "rps" not in pts.columns:
        return nothing(NO_SUSTAINED)
    notes += [note, "mean over trials, Student t 95 % CI"]
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
    notes = title(fig, "fig4_libraries_and_modes", notes)
    libs = order(pts["library"].unique(), LIBRARY_ORDER)
    colours = fixed_colours(libs, LIBRARY_COLOURS)
    unanswered = False
    for ax, (mode, (metric, ylabel)) in zip(axes, cells, strict=True):
        d = in_mode(mode).dropna(subset=[metric])
        rates = order(d["rps"].unique())
        present = [lib for lib in libs if lib in set(d["library"])]
        step = 0.6 / len(present)
        values: list[float] = []
        for li, lib in enumerate(present):
            xs, ys = [], []
            for xi, rps in enumerate(rates):
                g = d[(d["library"] == lib) & (d["rps"] == rps)]
                vals = pd.to_numeric(g[metric], errors="coerce").dropna().to_numpy(float)
                if not len(vals):
                    continue
                x = xi - 0.3 + step * (li + 0.5)
                if not np.isfinite(vals).all():
                    _top_edge(ax, x, colours[lib])
                    unanswered = True
                    continue
                mean = float(np.mean(vals))
                ax.plot([x], [mean], linestyle="none", **_marker_style(limit_kind(g), colours[lib]))
                if len(vals) > 1:
                    low, high = ci(vals)
                    ax.plot([x, x], [low, high], color=colours[lib], linewidth=1)
                    values += [low, high]
                xs.append(x)
                ys.append(mean)
            ax.plot(xs, ys, color=colours[lib], linewidth=1)
            values += ys
        ax.set_xticks(range(len(rates)), [rate_label(r) for r in rates])
        ax.set_xlim(-0.6, len(rates) - 0.4)
        ax.set_title(f"connections={mode[0]}, client TCP={mode[1]}", fontsize=9)
        ax.set_xlabel("target request rate (RPS)")
        ax.set_ylabel(ylabel)
        maybe_log(ax, values)
    handles = [Line2D([], [], color=colours[lib], marker="o", label=lib) for lib in libs]
    handles += limit_handles(_by_kind(pts))
    if unanswered:
        handles.append(_not_answered_handle())
    fig.legend(handles=handles, loc="outside right center", title="library", fontsize=8)
    return Shown(fig, notes=notes)


# ---------------------------------------------------------------- figure 5

KEPT = "nothing ran out"
FAILED = "point failed"


def _outcome(point: dict) -> str:
    """What a point's mark says: nothing ran out, limited by (what, in words), or failed."""
    if point.get("status") != "ok":
        return FAILED
    words = limits_of(pd.DataFrame([point]))
    if not words:
        return KEPT
    env = str(point.get("limit_kind")) == "environment"
    return ("limited by (not the system): " if env else "limited by: ") + ", ".join(words)


def _outcome_style(outcome: str, colour: Any) -> dict[str, Any]:
    if outcome == FAILED:
        return {"marker": "s", "color": "0.45", "markersize": 6}
    if outcome.startswith("limited by (not"):
        return _marker_style("environment", colour)
    if outcome.startswith("limited by"):
        return _marker_style("saturated", colour)
    return _marker_style("none", colour)


def fig5_target_vs_achieved_rps(tidy: pd.DataFrame) -> Shown:
    """Achieved vs target RPS of every point; what ran out and failed points on the marks."""
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
    notes = title(fig, "fig5_target_vs_achieved_rps", notes)
    d = d.assign(
        outcome=[_outcome(r) for r in d.to_dict("records")],
        ratio=100 * d["achieved_rps"] / d["target_rps"],
    )
    libs = order(d["library"].unique(), LIBRARY_ORDER) if "library" in d.columns else [None]
    colours = fixed_colours(libs, LIBRARY_COLOURS)
    rates = order(d["target_rps"].unique())
    rng = np.random.default_rng(JITTER_SEED)
    for r in d.to_dict("records"):
        colour = colours[r.get("library")]
        style = _outcome_style(r["outcome"], colour)
        ax.plot([r["target_rps"]], [r["achieved_rps"]], linestyle="none", alpha=0.85, **style)
        xi = rates.index(r["target_rps"]) + rng.uniform(-0.25, 0.25)
        ax2.plot([xi], [r["ratio"]], linestyle="none", alpha=0.85, **style)
    if d["throughput_rps"].notna().any():
        ax.scatter(d["target_rps"], d["throughput_rps"], marker="_", s=120, color="0.2", zorder=3)
    top = max(d["target_rps"].max(), d["achieved_rps"].max()) * 1.1
    ax.plot([0, top], [0, top], color="0.5", linestyle="--", linewidth=1)
    ax.set_xlabel("target request rate (RPS)")
    ax.set_ylabel("sent (marker) and ok answers (bar) per second")
    if maybe_log(ax, d["target_rps"], axis="x"):
        ax.set_yscale("log")
        log_label(ax, "y")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
    ax.set_title("every point", fontsize=9)
    ax2.axhline(100, color="0.5", linestyle="--", linewidth=1)
    ax2.set_xticks(range(len(rates)), [rate_label(r) for r in rates])
    ax2.set_xlim(-0.6, len(rates) - 0.4)
    ax2.set_xlabel("target request rate (RPS)")
    ax2.set_ylabel("achieved / target (%)")
    ax2.set_title("achieved as a share of the target", fontsize=9)
    handles = [
        Line2D([], [], color=colours[lib], marker="o", linestyle="none", label=str(lib))
        for lib in libs
        if lib is not None and len(libs) > 1
    ]
    for outcome in order(d["outcome"].unique(), [KEPT]):
        handles.append(
            Line2D([], [], linestyle="none", label=outcome, **_outcome_style(outcome, "0.3"))
        )
    handles.append(
        Line2D(
            [],
            [],
            color="0.2",
            marker="_",
            markersize=10,
            linestyle="none",
            label="successful answers per second",
        )
    )
    handles.append(Line2D([], [], color="0.5", linestyle="--", label="achieved = target"))
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=7)
    return Shown(fig, notes=notes)


# ---------------------------------------------------------------- figure 6

STAT_COLOURS = {"p50": "#56B4E9", "p99": "#0072B2"}


def fig6_variability(tidy: pd.DataFrame) -> Shown:
    """Coefficient of variation of latency p50 and p99 across trials, per configuration."""
    pts = ok_points(per_point(tidy, ["latency_p50", "latency_p99"]))
    config = param_columns(pts) if not pts.empty else []
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
    notes = title(
        fig, "fig6_variability", [f"one dot per configuration ({trials}); sample SD / mean"]
    )
    cv = cv.dropna(subset=["rps"])
    rates = order(cv["rps"].unique())
    rng = np.random.default_rng(JITTER_SEED)
    for si, (stat, colour) in enumerate(STAT_COLOURS.items()):
        sub = cv[cv["statistic"] == stat]
        for xi, rps in enumerate(rates):
            vals = sub.loc[sub["rps"] == rps, "cv_percent"].to_numpy(float)
            if not len(vals):
                continue
            x = xi + (si - 0.5) * 0.4
            ax.scatter(x + rng.uniform(-0.08, 0.08, len(vals)), vals, color=colour, alpha=0.6)
            ax.plot([x - 0.12, x + 0.12], [vals.mean()] * 2, color=colour, linewidth=2.5)
    ax.set_xticks(range(len(rates)), [rate_label(r) for r in rates])
    ax.set_xlim(-0.6, len(rates) - 0.4)
    ax.set_xlabel("target request rate (RPS)")
    ax.set_ylabel("coefficient of variation across trials (%)")
    handles = [
        Line2D([], [], color=c, marker="o", linestyle="none", label=f"latency {s}")
        for s, c in STAT_COLOURS.items()
    ]
    handles.append(Line2D([], [], color="0.3", linewidth=2.5, label="mean of the dots"))
    fig.legend(handles=handles, loc="outside right center", fontsize=8, title="statistic")
    return Shown(fig, notes=notes)


BUILDERS: dict[str, Callable[[pd.DataFrame], Shown]] = {
    "fig1_load_percentiles": fig1_load_percentiles,
    "fig1b_load_variants": fig1b_load_variants,
    "fig2_mean_response_by_host": fig2_mean_response_by_host,
    "fig3_sshd_profiles": fig3_sshd_profiles,
    "fig4_libraries_and_modes": fig4_libraries_and_modes,
    "fig5_target_vs_achieved_rps": fig5_target_vs_achieved_rps,
    "fig6_variability": fig6_variability,
    "fig7_cpu_per_request": fig7_cpu_per_request,
    "fig8_capacity": fig8_capacity,
    "fig10_transfer": fig10_transfer,
}
assert tuple(BUILDERS) == FIGURES


def _placeholder(why: str) -> plt.Figure:
    """The file a figure rule must still write when there is nothing to show (the report
    shows the reason as a line instead of this image): the full size, the reason in it."""
    fig = plt.figure(figsize=FIGSIZE, dpi=DPI)
    fig.text(0.5, 0.5, f"{NOT_MEASURED_TEXT}:\n{why}", ha="center", va="center", fontsize=12)
    return fig


def build(stem: str, tidy: pd.DataFrame) -> Shown:
    """One figure, or why there is nothing to show. A builder that raises is a figure that
    cannot be drawn: logged with its traceback and shown as one line, never an error that
    stops the tables and the report."""
    try:
        return BUILDERS[stem](tidy)
    except Exception as exc:  # any failure of one figure must not stop the rest
        plt.close("all")
        log.exception("figure %s could not be drawn", stem)
        why = f"could not be drawn from this sweep ({type(exc).__name__}: {exc})"
        return nothing(" ".join(why.split())[:300])


def draw(stem: str, tidy: pd.DataFrame, png: Path) -> tuple[Path, Path]:
    """Build one figure; save PNG (fixed pixel size), PDF and what it shows (JSON) beside it.
    Always writes all three: a figure that cannot be drawn writes a placeholder saying why."""
    if stem not in BUILDERS:
        raise ValueError(f"unknown figure {stem!r}; known: {', '.join(BUILDERS)}")
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    pdf, info = png.with_suffix(".pdf"), png.with_suffix(".json")
    # Any jitter is drawn from a seeded generator: the same table gives the same figure, byte
    # for byte (no creation date in the files either).
    np.random.seed(JITTER_SEED)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.8):
        shown = build(stem, tidy)
        fig = shown.fig if shown.fig is not None else _placeholder(shown.why)
        try:
            fig.savefig(png, dpi=DPI, metadata={"Software": None})
            fig.savefig(pdf, metadata={"CreationDate": None, "Producer": None})
        except Exception as exc:  # a figure that cannot be saved: as above
            plt.close(fig)
            log.exception("figure %s could not be saved", stem)
            shown = nothing(f"could not be drawn from this sweep ({type(exc).__name__})")
            fig = _placeholder(shown.why)
            fig.savefig(png, dpi=DPI, metadata={"Software": None})
            fig.savefig(pdf, metadata={"CreationDate": None, "Producer": None})
        finally:
            plt.close(fig)
    record = {"stem": stem, "shown": shown.fig is not None, "why": shown.why}
    if shown.fig is not None:
        record["notes"] = list(shown.notes)
    info.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    log.info("figure %s -> %s (%s)", stem, png, "drawn" if record["shown"] else shown.why)
    return png, pdf
