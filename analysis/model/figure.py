"""Figure 9: measured latency here against the model's curves for ``here`` and ``study``."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

TITLE = "Figure 9: latency here, measured and modelled, and projected on the study's hardware"


def rate_grid(top: float, n: int = 12) -> list[float]:
    """n rates from 5 RPS to `top`, rounded to whole RPS."""
    top = max(top, 10.0)
    return sorted({float(round(x)) for x in np.linspace(5.0, top, n)})


def draw(
    measured: pd.DataFrame, curves: pd.DataFrame, out_png: Path, out_pdf: Path, note: str
) -> None:
    """measured: rps, latency_p50, latency_p99 (one row per point); curves: topology, rps,
    p50_ms, p99_ms."""
    fig, ax = plt.subplots(figsize=(10.0, 6.0), dpi=150)
    colours = {"here": "tab:blue", "study": "tab:orange"}
    for topo, g in curves.groupby("topology", sort=False):
        g = g.sort_values("rps")
        c = colours.get(str(topo), "tab:green")
        ax.plot(g["rps"], g["p50_ms"], "-", color=c, label=f"model {topo}: p50")
        ax.plot(g["rps"], g["p99_ms"], "--", color=c, label=f"model {topo}: p99")
    if len(measured):
        ax.plot(
            measured["rps"], measured["latency_p50"], "o", color="black", label="measured here: p50"
        )
        ax.plot(
            measured["rps"], measured["latency_p99"], "x", color="black", label="measured here: p99"
        )
    vals = pd.concat(
        [
            curves.get("p99_ms", pd.Series(dtype=float)),
            measured.get("latency_p99", pd.Series(dtype=float)),
        ]
    )
    vals = vals[np.isfinite(vals.astype(float))]
    if len(vals) and vals.max() / max(vals.min(), 1e-9) > 20:
        ax.set_yscale("log")
    ax.axhline(2000, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("target rate (RPS)")
    ax.set_ylabel("latency from the schedule (ms)")
    ax.set_title(TITLE, fontsize=11)
    if note:
        fig.text(0.01, 0.01, note, fontsize=8, wrap=True)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left")
    else:
        ax.text(0.5, 0.5, "nothing to model", ha="center", va="center", transform=ax.transAxes)
    ax.grid(True, alpha=0.3)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png)
    fig.savefig(out_pdf)
    plt.close(fig)
