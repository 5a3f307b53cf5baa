"""Figures of what a request costs and what the system can carry: CPU per successful answer
(where each request's CPU goes) and the capacity found by a capacity search."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from analysis.common import fmt_level, order
from analysis.plotting import (
    MODE_COLOURS,
    Shown,
    figure_grid,
    figure_legend,
    fixed_colours,
    nothing,
    palette,
    panels,
    title,
)
from analysis.select import (
    LIBRARY_ORDER,
    MODE_ORDER,
    STUDY,
    STUDY_RPS,
    TCP_ORDER,
    capacity_searches,
    keep_one,
    ok_points,
    per_point,
)

# Where a request's CPU goes: the host's sshd, the API, the load generator (machine is the
# sum of everything on the machine, so it is not stacked with the parts).
DEMAND_PARTS = ("host", "api", "generator")


def fig7_cpu_per_request(tidy: pd.DataFrame) -> Shown:
    """CPU ms per successful answer (utilisation law D = U / X) by library and connection
    mode, stacked by where it was spent; one panel per host CPU quota when that varied."""
    metrics = [f"demand_ms_{p}" for p in DEMAND_PARTS]
    pts = ok_points(per_point(tidy, metrics))
    if not pts.empty:
        pts = pts.dropna(subset=metrics, how="all")
    if pts.empty or "library" not in pts.columns:
        return nothing("no point recorded CPU per answer (demand_ms_host, _api, _generator)")
    notes = []
    for col, pref in (
        ("pattern", "sustained"),
        ("profile", "tuned"),
        ("command", "uptime"),
        ("client_tcp", STUDY["client_tcp"]),
    ):
        pts, note = keep_one(pts, col, pref, cover=("library", "connections", "host_cpus"))
        notes.append(note)
    pts, note = keep_one(pts, "host", None, cover=("library", "connections", "host_cpus"))
    notes += [note, "mean over rates and trials (ok points)"]
    cells = panels(pts, [("host_cpus", ())])
    fig, axes = figure_grid(len(cells), sharey=True)
    notes = title(fig, "fig7_cpu_per_request", notes)
    colours = palette(DEMAND_PARTS)
    for ax, (panel, d) in zip(axes, cells, strict=True):
        by = [c for c in ("library", "connections") if c in d.columns]
        means = _ordered(d.groupby(by)[metrics].mean().reset_index(), mode_first=True)
        labels = [" ".join(str(r[c]) for c in by) for _, r in means.iterrows()]
        x = np.arange(len(means))
        bottom = np.zeros(len(means))
        for part, m in zip(DEMAND_PARTS, metrics, strict=True):
            vals = np.nan_to_num(means[m].to_numpy(dtype=float))
            ax.bar(x, vals, bottom=bottom, color=colours[part], label=part, width=0.6)
            bottom += vals
        for xi, tot in enumerate(bottom):
            ax.annotate(f"{tot:.1f}", (xi, tot), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.5 - max(0, 2 - len(x)) * 0.5, len(x) - 0.5 + max(0, 2 - len(x)) * 0.5)
        top = max(ax.get_ylim()[1], float(bottom.max()) * 1.12)  # room for the totals
        ax.set_ylim(0, top)  # shared: never below another panel's
        ax.set_ylabel("CPU ms per successful answer")
        ax.set_title(panel, fontsize=9)
        ax.legend()
    figure_legend(fig, axes, "CPU spent by")
    return Shown(fig, notes=notes)


def _ordered(df: pd.DataFrame, mode_first: bool = False) -> pd.DataFrame:
    """Rows in library order (ssh2, paramiko, openssh), then connection mode order (or the
    other way round)."""
    rank = {}
    keys = (("library", LIBRARY_ORDER), ("connections", MODE_ORDER))
    for col, pref in keys[::-1] if mode_first else keys:
        if col in df.columns:
            levels = order(df[col].unique(), pref)
            rank[col] = df[col].map(levels.index)
    if not rank:
        return df
    return df.assign(**{f"_{k}": v for k, v in rank.items()}).sort_values([f"_{k}" for k in rank])[
        list(df.columns)
    ]


def fig8_capacity(tidy: pd.DataFrame) -> Shown:
    """Capacity at the bound, from analysis.capacity.capacities (one row per search)."""
    return capacity_figure(capacity_searches(tidy))


CONFIG = ["host", "host_cpus", "client_tcp", "command", "profile", "library", "connections"]


def per_config(caps: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration searched: capacity = mean over its trials' searches (NaN
    when no step of any passed), bracket from the lowest low to the highest high, converged
    only if every trial's search converged."""
    keys = [c for c in CONFIG if c in caps.columns]
    rows = []
    for key, g in caps.groupby(keys, dropna=False, sort=False):
        cap = pd.to_numeric(g["capacity_rps"], errors="coerce")
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "capacity_rps": float(cap.mean()) if cap.notna().all() else np.nan,
                "bracket_low_rps": float(pd.to_numeric(g["bracket_low_rps"]).min()),
                "bracket_high_rps": float(pd.to_numeric(g["bracket_high_rps"]).max()),
                "converged": bool(g["converged"].astype(bool).all()),
                "searches": len(g),
                "bound": g["bound"].iloc[0],
            }
        )
    return pd.DataFrame(rows)


def capacity_figure(caps: pd.DataFrame) -> Shown:
    """Capacity (RPS) with its bracket by library x connection mode, one panel per host CPU
    quota x client TCP mode searched; the study's 90 RPS drawn across. caps: the columns of
    analysis.capacity.capacities (one row per search; trials are averaged)."""
    if caps.empty:
        return nothing("this sweep has no capacity search")
    caps = per_config(caps)
    notes = [f"bar: capacity at the bound ({caps['bound'].iloc[0]}); whisker: its bracket"]
    if (caps["searches"] > 1).any():
        notes.append(f"mean of {int(caps['searches'].max())} searches (trials) where repeated")
    if not caps["converged"].all():
        notes.append("hatched: search not converged (capacity is a bound, not a value)")
    if caps["capacity_rps"].isna().any():
        notes.append("no bar: no step of the search met the bound")
    if caps["host"].nunique() > 1:
        notes.append("hosts: " + ", ".join(order(caps["host"].unique())))
    cells = panels(caps, [("host_cpus", ()), ("client_tcp", TCP_ORDER), ("host", ())])
    fig, axes = figure_grid(len(cells), sharey=True)
    notes = title(fig, "fig8_capacity", notes)
    modes = order(caps["connections"].unique(), MODE_ORDER)
    colours = fixed_colours(modes, MODE_COLOURS)
    for ax, (panel, d) in zip(axes, cells, strict=True):
        d = _ordered(d, mode_first=True)
        x = np.arange(len(d))
        for xi, r in zip(x, d.itertuples(index=False), strict=True):
            cap = r.capacity_rps
            ax.bar(
                xi,
                0.0 if np.isnan(cap) else cap,
                color=colours[r.connections],
                hatch="" if r.converged else "//",
                edgecolor="0.2",
                width=0.6,
                label=r.connections,
            )
            low, high = r.bracket_low_rps, r.bracket_high_rps
            if np.isfinite(low) and np.isfinite(high):
                ax.plot([xi, xi], [low, high], color="0.1", linewidth=1.5)
            ax.annotate(
                "none passed" if np.isnan(cap) else f"{cap:.0f}",
                (xi, 0.0 if np.isnan(cap) else cap),
                xytext=(4, 2),
                textcoords="offset points",
                ha="left",
                va="bottom",
                fontsize=7,
            )
        ax.axhline(
            STUDY_RPS,
            color="0.2",
            linestyle="--",
            linewidth=1,
            label=f"the study's {STUDY_RPS:g} RPS",
        )
        ax.set_xticks(x, list(d["library"]), rotation=0)
        ax.set_ylabel("capacity (RPS)")
        ax.set_title(panel or f"host_cpus={fmt_level(d['host_cpus'].iloc[0])}", fontsize=9)
        ax.legend()
    figure_legend(fig, axes, "connections")
    if not caps["converged"].all() and fig.legends:  # the hatch on the marks, in the legend
        leg = fig.legends[0]
        handles = [*leg.legend_handles, Patch(facecolor="white", edgecolor="0.2", hatch="//")]
        labels = [t.get_text() for t in leg.get_texts()] + ["not converged: a bound"]
        leg.remove()
        fig.legend(handles, labels, loc="outside right center", title="connections", fontsize=8)
    return Shown(fig, notes=notes)
