"""The model's step of the analysis: demands -> calibration -> validation -> projection ->
figure 9 and the report section. Everything goes to results/<sweep>/model/ (and the figure
to figures/); ``run_model`` never fails for lack of data: a sweep without a fitting point
gets empty tables and "not projected" everywhere, with the reason."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.model import figure, section
from analysis.model.demands import demands_table, fit_demands, wide
from analysis.model.projection import project
from analysis.model.simulate import simulate
from analysis.model.topology import Topology, study_from_claims
from analysis.model.validate import (
    calibrate,
    here_of,
    machine_of,
    point_demands,
    validation_rows,
    verdict,
)
from sshbench.paths import MODEL_FIGURE, MODEL_FILES, SweepLayout

log = logging.getLogger(__name__)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def curves(fit: Any, m: Any, host_cpus: float, study: Topology, top: float) -> pd.DataFrame:
    """Model p50/p99 per rate for ``here`` (the sweep's window) and ``study`` (projection)."""
    from analysis.model.projection import PROJECTION_S, PROJECTION_WARMUP_S

    rows = []
    d = point_demands(fit)
    for topo, dur, warm in (
        (here_of(fit, m, host_cpus), m.duration_s, m.warmup_s),
        (study, PROJECTION_S, PROJECTION_WARMUP_S),
    ):
        for r in figure.rate_grid(top):
            sim = simulate(topo, d, fit.delay_ms, r, dur, warm)
            rows.append(
                {
                    "topology": topo.name,
                    "rps": r,
                    "p50_ms": sim.p(50),
                    "p99_ms": sim.p(99),
                    "bottleneck_util": sim.bottleneck_util,
                }
            )
    return pd.DataFrame(rows)


def run_model(layout: SweepLayout, tidy: pd.DataFrame, claims_file: Path) -> dict[str, Path]:
    """Write every model output of the sweep; return their paths."""
    out = layout.model
    out.mkdir(parents=True, exist_ok=True)
    m = machine_of(tidy) if len(tidy) else None
    fits = fit_demands(tidy) if len(tidy) else []
    for f in fits:
        calibrate(f, m)
    demands_table(fits).to_csv(layout.model_file("demands.csv"), index=False)
    rows = validation_rows(tidy, fits, m) if m is not None else validation_rows(tidy, [], m)
    rows.to_csv(layout.model_file("validation.csv"), index=False)
    state = verdict(rows, fits)
    layout.model_file("validation.json").write_text(json.dumps(_json_safe(state), indent=2) + "\n")
    log.info(
        "model: %d configuration(s) fitted; validated: %s (%s)",
        len(fits),
        state["validated"],
        state["why"],
    )
    study = study_from_claims(claims_file)
    apart = study_from_claims(claims_file, loadgen_apart=True)
    proj = project(claims_file, fits, study, bool(state["validated"]), apart)
    proj.to_csv(layout.model_file("projection.csv"), index=False)
    # figure 9: the configuration of the first projected claim (else the best-fitted one)
    chosen = next((c for c in proj["configuration"] if isinstance(c, str) and c), None)
    fit = next((f for f in fits if f.key == chosen), fits[0] if fits else None)
    measured = pd.DataFrame(columns=["rps", "latency_p50", "latency_p99"])
    curve = pd.DataFrame(columns=["topology", "rps", "p50_ms", "p99_ms", "bottleneck_util"])
    note = ""
    if fit is not None:
        w = wide(tidy)
        host_cpus = 2.0 if (w["host_cpus"] == 2).any() else float(fit.fit["host_cpus"].iloc[0])
        sel = (w["pattern"] == "sustained") & (w["status"] == "ok") & (w["host_cpus"] == host_cpus)
        for k, v in fit.config.items():
            sel &= w[k].astype(str) == v
        measured = w[sel][["rps", "latency_p50", "latency_p99"]]
        top = 1.3 * max(
            study.bottleneck_rps(point_demands(fit)),
            here_of(fit, m, host_cpus).bottleneck_rps(point_demands(fit)),
        )
        curve = curves(fit, m, host_cpus, study, top)
        note = (
            f"{fit.key}, host {host_cpus:g} CPU here; study: {study.description}. "
            f"Model {'validated' if state['validated'] else 'NOT validated'} on this sweep."
        )
    curve.to_csv(layout.model_file("curves.csv"), index=False)
    figure.draw(
        measured,
        curve,
        layout.figure(MODEL_FIGURE, "png"),
        layout.figure(MODEL_FIGURE, "pdf"),
        note if fit is not None else "no fitted configuration: nothing to model",
    )
    section.render(layout, fits, rows, state, proj, study)
    return {name: layout.model_file(name) for name in MODEL_FILES}
