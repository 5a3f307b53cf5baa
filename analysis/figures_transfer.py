"""The transfer figure (issue 21): files moved through the API's Files endpoints, per SSH
library x file size x direction: throughput (MB/s, all streams of a point together) and
the latency of one transfer (from the moment its stream was free), mean over trials with
Student's t 95 % CI, each library in its fixed colour."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.common import fmt_level, order
from analysis.plotting import (
    LIBRARY_COLOURS,
    Shown,
    ci,
    figure_grid,
    figure_legend,
    fixed_colours,
    nothing,
    title,
)
from analysis.select import LIBRARY_ORDER, ok_points, per_point

STEM = "fig10_transfer"
ROWS = (("transfer_mb_per_s", "throughput, MB/s"), ("latency_p50", "transfer latency p50, ms"))
DIRECTIONS = ("download", "upload")


def _config_label(r: pd.Series, extra: list[str]) -> str:
    parts = [f"{fmt_level(r['transfer_size_mib'])} MiB"]
    if "streams" in extra:
        parts.append(f"x{fmt_level(r['streams'])}")
    if "connections" in extra:
        parts.append(str(r["connections"]))
    return " ".join(parts)


def fig10_transfer(tidy: pd.DataFrame) -> Shown:
    metrics = [m for m, _ in ROWS]
    pts = per_point(tidy, metrics)
    if not pts.empty and "pattern" in pts.columns:
        pts = pts[pts["pattern"] == "transfer"]
    pts = ok_points(pts) if not pts.empty else pts
    if pts.empty or "direction" not in pts.columns:
        return nothing("no transfer point in this sweep (pattern transfer)")
    pts = pts.dropna(subset=["transfer_mb_per_s"])
    if pts.empty:
        return nothing("no transfer point recorded its throughput (transfer_mb_per_s)")
    extra = [c for c in ("streams", "connections") if c in pts.columns and pts[c].nunique() > 1]
    dirs = [d for d in DIRECTIONS if d in set(pts["direction"])]
    fig, axes = figure_grid(len(ROWS) * len(dirs), ncols=len(dirs))
    notes = title(
        fig,
        STEM,
        ["mean over trials (ok points), whiskers: Student's t 95 % CI over trials"],
    )
    libs = [lib for lib in LIBRARY_ORDER if lib in set(pts["library"])]
    libs += [lib for lib in order(pts["library"].unique()) if lib not in libs]
    colours = fixed_colours(libs, LIBRARY_COLOURS)
    for r, (metric, ylabel) in enumerate(ROWS):
        for c, direction in enumerate(dirs):
            ax = axes[r * len(dirs) + c]
            d = pts[pts["direction"] == direction]
            keys = ["transfer_size_mib", *extra]
            configs = d.drop_duplicates(keys).sort_values(keys)
            labels = [_config_label(row, extra) for _, row in configs.iterrows()]
            width = 0.8 / max(1, len(libs))
            for i, lib in enumerate(libs):
                xs, ys, lo, hi = [], [], [], []
                for j, (_, cfg) in enumerate(configs.iterrows()):
                    sel = d["library"] == lib
                    for k in keys:
                        sel &= d[k] == cfg[k]
                    vals = d.loc[sel, metric].dropna().to_numpy(dtype=float)
                    vals = vals[np.isfinite(vals)]
                    if not len(vals):
                        continue
                    mean = float(vals.mean())
                    low, high = ci(vals) if len(vals) > 1 else (mean, mean)
                    xs.append(j - 0.4 + width * (i + 0.5))
                    ys.append(mean)
                    lo.append(mean - low if np.isfinite(low) else 0.0)
                    hi.append(high - mean if np.isfinite(high) else 0.0)
                if xs:
                    ax.bar(xs, ys, width=width, color=colours[lib], label=lib)
                    ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="black", lw=0.8)
            ax.set_xticks(np.arange(len(labels)), labels)
            ax.set_xlim(-0.6, max(len(labels), 2) - 0.4)
            ax.set_ylabel(ylabel)
            ax.set_title(direction, fontsize=9)
            ax.legend()
    figure_legend(fig, axes, "SSH library")
    return Shown(fig, notes=notes)
