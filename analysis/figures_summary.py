"""The answer at a glance: each claim's measured value against the study's mark, with its
95 % CI and verdict (from paper/claims.csv, which the claims check wrote).

One row per claim, each on its own scale (a fraction, a ratio and a count do not share an
axis): a dot per configuration measured, its CI as a whisker, coloured by its verdict; the
study's mark as a dashed line (a band for "within"); the claim's verdict at the right. A
claim the sweep did not measure keeps its row and says so.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from analysis.common import NOT_MEASURED, isnan
from analysis.plotting import DPI, VERDICT_COLOURS, Shown, nothing

log = logging.getLogger(__name__)

SUMMARY_STEM = "summary_claims"
WIDTH_IN = 8.0
ROW_IN = 0.62
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def mark_of(threshold: object) -> tuple[float, float] | None:
    """The study's mark from claims.csv's threshold text: "0.99" -> (0.99, 0.99),
    "[0.8, 1.25]" -> (0.8, 1.25); None if it is not a number."""
    nums = [float(x) for x in re.findall(_NUM, str(threshold))]
    if not nums:
        return None
    return (nums[0], nums[-1]) if len(nums) > 1 else (nums[0], nums[0])


def shown_value(row: pd.Series) -> tuple[float, float, float, str]:
    """(value, CI low, CI high, what is on the axis) of one configuration. A count claim is
    drawn as its rate (claims.csv ``rate``; its CI is the rate's per-trial bound, ci_*)."""
    unit = str(row.get("unit", ""))
    value, low, high = (float(row.get(k, np.nan)) for k in ("value", "ci_low", "ci_high"))
    if unit == "count":
        rate = float(row.get("rate", np.nan))
        if not np.isnan(rate):
            return rate, low, high, "rate"
        return value, np.nan, np.nan, "count"
    return value, low, high, unit


def _verdict_colour(verdict: object) -> str:
    return VERDICT_COLOURS.get(str(verdict), "#999999")


def summary_figure(details: pd.DataFrame, summary: pd.DataFrame | None = None) -> Shown:
    """The summary figure from claims.csv (details) and claims_summary.csv (summary: the
    claim's overall verdict; without it the worst of its configurations is not guessed, the
    row shows its configurations only)."""
    if details.empty or "claim_id" not in details.columns:
        return nothing("no claim was checked")
    claims = list(dict.fromkeys(details["claim_id"]))
    overall = {}
    if summary is not None and not summary.empty and "claim_id" in summary.columns:
        overall = dict(zip(summary["claim_id"], summary["verdict"], strict=False))
        claims = [c for c in summary["claim_id"] if c in set(claims)] + [
            c for c in claims if c not in set(summary["claim_id"])
        ]
    height = ROW_IN * len(claims) + 1.0
    fig, axes = plt.subplots(
        len(claims), 1, figsize=(WIDTH_IN, height), dpi=DPI, squeeze=False, layout="constrained"
    )
    fig.suptitle(
        "The study's claims: measured (dot, 95 % CI) against the study's mark", fontsize=10
    )
    for ax, claim in zip(axes[:, 0], claims, strict=True):
        rows = details[details["claim_id"] == claim]
        _claim_row(ax, claim, rows, overall.get(claim))
    handles = [
        Line2D([], [], color=c, marker="o", linestyle="none", label=v)
        for v, c in VERDICT_COLOURS.items()
    ]
    handles.append(Line2D([], [], color="0.2", linestyle="--", label="the study's mark"))
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=7)
    return Shown(fig)


def _claim_row(ax: plt.Axes, claim: str, rows: pd.DataFrame, verdict: object) -> None:
    ax.set_yticks([])
    ax.set_ylabel(claim, rotation=0, ha="right", va="center", fontsize=7)
    ax.tick_params(axis="x", labelsize=6, pad=1)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.grid(axis="y", visible=False)
    verdict = verdict if isinstance(verdict, str) else ""
    if not verdict and len(rows):
        verdict = str(rows["verdict"].iloc[0]) if rows["verdict"].nunique() == 1 else ""
    ax.text(
        1.01,
        0.5,
        verdict,
        transform=ax.transAxes,
        ha="left",
        va="center",
        fontsize=7,
        fontweight="bold",
        color=_verdict_colour(verdict),
    )
    mark = mark_of(rows["threshold"].iloc[0]) if len(rows) else None
    measured = rows[pd.to_numeric(rows["value"], errors="coerce").notna()]
    points = [shown_value(r) for _, r in measured.iterrows()]
    xs = [v for p in points for v in p[:3] if not isnan(v) and np.isfinite(v)]
    if mark:
        xs += list(mark)
        lo, hi = mark
        if hi > lo:
            ax.axvspan(lo, hi, color="0.85", zorder=0)
        for x in {lo, hi}:
            ax.axvline(x, color="0.2", linestyle="--", linewidth=1)
    if not points:
        ax.text(
            0.5,
            0.5,
            NOT_MEASURED,
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=7,
            color="0.4",
            style="italic",
        )
    n = len(points)
    for i, ((value, low, high, _), (_, r)) in enumerate(
        zip(points, measured.iterrows(), strict=True)
    ):
        y = (i + 1) / (n + 1)
        colour = _verdict_colour(r["verdict"])
        if not (isnan(low) or isnan(high)):
            ax.plot([low, high], [y, y], color=colour, linewidth=1.5)
        if np.isfinite(value):
            ax.plot([value], [y], marker="o", color=colour, markersize=5)
        else:  # not answered: at the right edge, never dropped
            ax.plot(
                [1.0],
                [y],
                marker=">",
                color=colour,
                transform=ax.get_yaxis_transform(),
                clip_on=False,
            )
    ax.set_ylim(0, 1)
    if xs:
        lo, hi = min(xs), max(xs)
        pad = (hi - lo) * 0.08 or max(abs(hi) * 0.1, 0.05)
        ax.set_xlim(lo - pad, hi + pad)
    if not points:  # the mark alone: no scale to read
        ax.set_xticks([])
        return
    unit = points[0][3]
    if unit:
        ax.set_xlabel(unit, fontsize=6, labelpad=0)


def draw_summary(claims_csv: Path, summary_csv: Path | None, png: Path) -> dict:
    """Draw the summary figure (PNG and PDF beside it) from the claims check's CSVs; never
    raises on data: a figure that cannot be drawn is one line (returned as {"shown",
    "why"})."""
    png.parent.mkdir(parents=True, exist_ok=True)
    try:
        details = pd.read_csv(claims_csv) if claims_csv.exists() else pd.DataFrame()
        summary = (
            pd.read_csv(summary_csv) if summary_csv is not None and summary_csv.exists() else None
        )
        with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.8):
            shown = summary_figure(details, summary)
            if shown.fig is not None:
                try:
                    shown.fig.savefig(png, dpi=DPI, metadata={"Software": None})
                    shown.fig.savefig(
                        png.with_suffix(".pdf"), metadata={"CreationDate": None, "Producer": None}
                    )
                finally:
                    plt.close(shown.fig)
    except Exception as exc:  # one figure must never stop the report
        plt.close("all")
        log.exception("the summary figure could not be drawn")
        shown = nothing(f"could not be drawn ({type(exc).__name__}: {exc})")
    record = {"stem": SUMMARY_STEM, "shown": shown.fig is not None, "why": shown.why}
    png.with_suffix(".json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def docs_figures(sweep_dir: Path, out_dir: Path) -> list[Path]:
    """docs/fig1.png and docs/summary.png from a finished sweep's results (its tidy.csv and
    claims.csv): what the README shows. Refuses a sweep without those files."""
    from analysis.collect import read_tidy
    from analysis.figures import draw
    from sshbench.paths import SweepLayout

    layout = SweepLayout(sweep_dir)
    for need in (layout.tidy, layout.claims):
        if not need.exists():
            raise SystemExit(f"{need} does not exist: run the sweep and its analysis first")
    out_dir.mkdir(parents=True, exist_ok=True)
    fig1 = out_dir / "fig1.png"
    draw("fig1_load_percentiles", read_tidy(layout.tidy), fig1)
    summary = out_dir / "summary.png"
    record = draw_summary(layout.claims, layout.claims_summary, summary)
    if not record["shown"]:
        raise SystemExit(f"summary figure: {record['why']}")
    for side in (fig1, summary):  # only the PNG goes into docs/
        for ext in (".pdf", ".json"):
            side.with_suffix(ext).unlink(missing_ok=True)
    return [fig1, summary]


def main(argv: list[str] | None = None) -> int:
    """`python -m analysis.figures_summary SWEEP OUT_DIR` (make docs-figures): SWEEP is a
    results directory or a sweep's name (its results/<name>)."""
    from sshbench import paths

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m analysis.figures_summary SWEEP|results/<sweep> docs", file=sys.stderr
        )
        return 2
    sweep = Path(args[0])
    if not sweep.is_dir() and "/" not in args[0]:
        sweep = paths.sweep_dir(args[0])
    for p in docs_figures(sweep, Path(args[1])):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
