"""The report's section "On the study's hardware (projected)", rendered from the model's
outputs with its own templates (paper/templates/_projection_section.*.j2). The report's
templates include it through paper/templates/_projection.*.j2, which read
results/<sweep>/model/section.{html,md} (so the report's code needs nothing from here)."""

from __future__ import annotations

import base64
import math
import os
from typing import Any

import jinja2
import pandas as pd

from analysis.model import figure
from analysis.model.demands import ConfigDemands
from analysis.model.topology import Topology
from analysis.model.validate import RULE
from sshbench import paths
from sshbench.paths import SweepLayout

ASSUMPTIONS = (
    "Demands: CPU rate = background + throughput x demand, fitted per configuration on "
    "sustained points that kept pace with the schedule without failures (capacity steps never).",
    "Each request: a constant non-CPU delay (calibrated on p50 at the lowest fitted rate), "
    "then the generator's, the API's, sshd's and the rest of the machine's CPU in turn.",
    "Service times exponential with the measured mean, FCFS per core (same mean response as "
    "processor sharing on one core); arrivals the sweep's open-loop schedule (slot k at k/R).",
    "A Python process uses at most one core (GIL): the API with W gunicorn workers is capped at "
    "W cores, Locust at one core per process. The host's CFS quota caps sshd.",
    "here: every resource on this machine's cores; the machine's background counts in its "
    "utilisation, not against its cores. study: API and Locust on the 2-CPU client VM, sshd "
    "on a 2-CPU host VM, the rest (kernel, softirq) split half and half, no background.",
    "Cores of the study's VMs are taken as fast as this machine's; break_even_speed says how "
    "much faster or slower they would have to be for each claim to flip.",
)


def _fmt(v: Any, digits: int = 3) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        if not math.isfinite(float(v)):
            return "" if math.isnan(float(v)) else "inf"
        return f"{float(v):.{digits}g}"
    return "" if v is None else str(v)


def _records(df: pd.DataFrame, cols: list[str]) -> list[dict[str, str]]:
    return [{c: _fmt(r.get(c)) for c in cols} for r in df.to_dict("records")]


def context(
    layout: SweepLayout,
    fits: list[ConfigDemands],
    rows: pd.DataFrame,
    state: dict[str, Any],
    proj: pd.DataFrame,
    study: Topology,
    embed: bool,
) -> dict[str, Any]:
    demands = pd.read_csv(layout.model_file("demands.csv"))
    demands["configuration"] = [
        f"{r.library} {r.connections} {r.command} {r.profile} tcp:{r.client_tcp}"
        for r in demands.itertuples()
    ]
    val = rows.copy()
    val["held_out"] = ~val["used_for_fit"].astype(bool)
    for col in ("rel_error", "bracket_error"):
        val[col] = [
            f"{x:+.0%}" if isinstance(x, float) and math.isfinite(x) else "" for x in val[col]
        ]
    png = layout.figure(paths.MODEL_FIGURE, "png")
    if embed and png.exists():
        src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    else:
        src = os.path.relpath(png, layout.paper)
    projected = proj[proj["configuration"].fillna("").astype(str) != ""]
    return {
        "validated": bool(state["validated"]),
        "state": state,
        "rule": RULE,
        "fitted": len(fits),
        "demands": _records(
            demands,
            [
                "configuration",
                "resource",
                "demand_ms",
                "demand_ci_low_ms",
                "demand_ci_high_ms",
                "background_cores",
                "method",
                "rates",
            ],
        ),
        "validation": _records(
            val,
            [
                "configuration",
                "host_cpus",
                "rps",
                "quantity",
                "predicted",
                "measured",
                "measured_high",
                "rel_error",
                "bracket_error",
                "held_out",
            ],
        ),
        "projection": _records(
            proj,
            [
                "claim_id",
                "configuration",
                "projected_verdict",
                "projected_value",
                "value_low",
                "value_high",
                "break_even_speed",
                "other_placement",
                "note",
            ],
        ),
        "sentences": [s for s in projected["sentence"].fillna("") if s],
        "study": study.description,
        "figure": {"src": src, "title": figure.TITLE, "exists": png.exists()},
        "assumptions": ASSUMPTIONS,
    }


def render(
    layout: SweepLayout,
    fits: list[ConfigDemands],
    rows: pd.DataFrame,
    state: dict[str, Any],
    proj: pd.DataFrame,
    study: Topology,
) -> None:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths.PAPER_DIR / "templates"),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    for ext, embed in (("html", True), ("md", False)):
        ctx = context(layout, fits, rows, state, proj, study, embed)
        text = env.get_template(f"_projection_section.{ext}.j2").render(**ctx)
        layout.model_file(f"section.{ext}").write_text(text)
