"""The reproduction report (HTML and Markdown) rendered with jinja2 from the built outputs.

It reads only what the earlier steps wrote (tidy.csv, figures, claims.csv, tables) plus the
claims file's description of the study's testbed; our testbed's facts come from the
points' provenance columns, never from this code.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from analysis.captions import CAPTIONS, TITLES
from analysis.claims import FAILS, HOLDS, MIN_TRIALS, VERDICT_RULES, load_study
from analysis.collect import read_tidy
from analysis.common import NOT_MEASURED, NOT_MEASURED_TEXT, fmt_level, fmt_levels, nan_to
from analysis.figures_summary import SUMMARY_STEM, draw_summary
from analysis.select import (
    capacity_searches,
    integrity_ok,
    ok_points,
    param_columns,
    per_point,
)
from analysis.tables import capacity_rows, fmt, fmt_ci, whole_numbers
from sshbench import paths
from sshbench.paths import FIGURES, SweepLayout

log = logging.getLogger(__name__)

TEMPLATES_DIR = paths.PAPER_DIR / "templates"

# CSS class of each verdict's badge (paper/templates/report.css; the colours are
# analysis.plotting.VERDICT_COLOURS, the summary figure's).
VERDICT_CLASSES = {
    "holds": "holds",
    "does not hold": "fails",
    "inconclusive": "inconclusive",
    "not testable here": "untestable",
    "partially measured": "partial",
    "not measured": "nm",
}

# Host facts the report shows, by the last part(s) of their provenance column.
HOST_FACTS = {
    "kind": "kind",
    "cpu_cores_applied": "CPU cores (cgroup limit applied)",
    "memory_bytes_applied": "memory limit applied",
    "netem.available": "tc netem available",
    "requested.delay_ms": "network delay requested (ms)",
    "sshd_version": "OpenSSH server",
    "kernel": "kernel",
    "notes": "notes",
}
MACHINE_FACTS = ("os", "kernel", "cpu_model", "cpu_count", "cpus_usable", "memory_bytes", "arch")


def _distinct(series: pd.Series) -> list[Any]:
    return [v for v in pd.unique(series.dropna())]


def _value_text(values: list[Any]) -> str:
    if not values:
        return "not recorded"
    return "; ".join(_human(v) for v in values)


def _human(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, str) and v.startswith("["):
        try:
            items = json.loads(v)
            return "; ".join(map(str, items)) if items else "none"
        except ValueError:
            return v
    return str(v)


def _mib(v: Any) -> str:
    try:
        return f"{float(v) / 2**20:.0f} MiB"
    except (TypeError, ValueError):
        return str(v)


def _first_col(cols: list[str], prefix: str, suffix: str) -> str | None:
    for c in cols:
        if c.startswith(prefix) and (c.endswith("." + suffix) or c == prefix + suffix):
            return c
    return None


def testbed_facts(tidy: pd.DataFrame) -> dict[str, Any]:
    """Our testbed, read from the points' provenance columns: per host, and the machine."""
    cols = list(tidy.columns)
    hosts = set(_distinct(tidy["host"])) if "host" in tidy.columns else set()
    hosts |= {
        m.group(1) for c in cols if (m := re.match(r"provenance\.testbed\.hosts\.([^.]+)\.", c))
    }
    hosts = sorted(hosts)
    per_host = {}
    for h in hosts:
        prefix = f"provenance.testbed.hosts.{h}."
        facts = {}
        for suffix, label in HOST_FACTS.items():
            col = _first_col(cols, prefix, suffix)
            vals = _distinct(tidy[col]) if col else []
            if suffix == "memory_bytes_applied":
                vals = [_mib(v) for v in vals]
            facts[label] = _value_text(vals)
        per_host[h] = facts
    machine = {}
    for key in MACHINE_FACTS:
        col = f"provenance.machine.{key}"
        vals = _distinct(tidy[col]) if col in cols else []
        if key == "memory_bytes":
            vals = [_mib(v) for v in vals]
        machine[key] = _value_text(vals)
    notes_col = "provenance.testbed.notes"
    notes = _value_text(_distinct(tidy[notes_col])) if notes_col in cols else ""
    inv_col = "provenance.testbed.inventory"
    inventory = _value_text(_distinct(tidy[inv_col])) if inv_col in cols else ""
    return {"hosts": per_host, "machine": machine, "notes": notes, "inventory": inventory}


def testbed_differences(study: dict[str, Any], ours: dict[str, Any]) -> list[dict[str, str]]:
    """Rows 'machine | the study | this sweep' for the report's comparison table."""
    rows = []
    machine = ours["machine"]
    by_name = {h.lower(): f for h, f in ours["hosts"].items()}
    for m in study.get("machines", []):
        study_text = f"{m.get('cpus')} CPU, {m.get('memory_gb')} GB" + (
            f", {m['os']}" if m.get("os") else ""
        )
        if m.get("role") == "client":
            ours_text = (
                f"the whole machine: {machine['cpu_count']} CPU(s), {machine['memory_bytes']}, "
                f"{machine['os']} (kernel {machine['kernel']}); the API and the load "
                "generator share it with the hosts' sshd"
            )
        else:
            f = by_name.get(str(m.get("name", "")).lower())
            if f is None:
                ours_text = NOT_MEASURED_TEXT
            else:
                ours_text = (
                    f"{f['kind']}; {f['CPU cores (cgroup limit applied)']} core(s), "
                    f"{f['memory limit applied']}; {f['OpenSSH server']}; "
                    f"netem: {f['tc netem available']}"
                )
        rows.append({"machine": m.get("name", ""), "study": study_text, "ours": ours_text})
    return rows


def provenance_summary(tidy: pd.DataFrame) -> list[dict[str, str]]:
    """Every provenance column with its distinct values (what a reviewer compares runs by)."""
    rows = []
    per_point = tidy.drop_duplicates("point_id") if "point_id" in tidy.columns else tidy
    for col in sorted(c for c in tidy.columns if c.startswith("provenance.")):
        vals = _distinct(per_point[col])
        if not vals:
            continue
        shown = "; ".join(_human(v) for v in vals[:3])
        if len(vals) > 3:
            shown += f"; ... ({len(vals)} distinct values)"
        rows.append({"field": col.removeprefix("provenance."), "values": shown})
    return rows


def sweep_facts(tidy: pd.DataFrame) -> dict[str, Any]:
    """Counts a reader needs first: points, failed points by class, what ran out (in the
    tidy saturation wording), broken records, time span, parameters."""
    empty = {"points": 0, "ok": 0, "failed": 0, "failed_by_class": {}, "limits": None}
    if tidy.empty or "point_id" not in tidy.columns:
        return {**empty, "broken": 0, "span": "", "params": {}}
    pts = tidy.drop_duplicates("point_id")
    failed = pts[pts["status"] != "ok"]
    by_class = (
        failed["error_class"].fillna("unknown").value_counts().to_dict()
        if "error_class" in failed.columns
        else {}
    )
    limits: dict[str, int] | None = None  # None: the table does not say what ran out
    if "saturation" in pts.columns:
        texts = pts["saturation"].fillna("").astype(str)
        limits = {t: int(n) for t, n in sorted(texts[texts != ""].value_counts().items())}
    broken = int((~integrity_ok(pts)).sum())
    span = ""
    if "started_at" in pts.columns and "ended_at" in pts.columns:
        span = f"{pts['started_at'].dropna().min()} to {pts['ended_at'].dropna().max()}"
    varied = {p: fmt_levels(_distinct(pts[p])) for p in param_columns(tidy)}
    return {
        "points": len(pts),
        "ok": int((pts["status"] == "ok").sum()),
        "failed": len(failed),
        "failed_by_class": by_class,
        "limits": limits,
        "broken": broken,
        "span": span,
        "params": {k: v for k, v in varied.items() if v},
    }


def latency_vs_service(tidy: pd.DataFrame) -> str:
    """One sentence: how closely latency from the schedule and service time agree below
    saturation, and where they part (the points that ran out of something)."""
    metrics = ["latency_p50", "service_p50", "latency_p99", "service_p99"]
    pts = ok_points(per_point(tidy, metrics))
    if pts.empty:
        return ""
    if "pattern" in pts.columns:  # scheduled HTTP load only (an auth row's two are one)
        pts = pts[~pts["pattern"].isin(["burst", "auth"])]
    pts = pts.dropna(subset=metrics)
    pts = pts[np.isfinite(pts[metrics].to_numpy(dtype=float)).all(axis=1)]
    if pts.empty:
        return ""
    sat = pts["saturation"].fillna("").astype(str) if "saturation" in pts.columns else None
    below = pts if sat is None else pts[sat == ""]
    parts = []
    if len(below):
        gap = {
            q: float(
                ((below[f"latency_{q}"] - below[f"service_{q}"]) / below[f"service_{q}"]).max()
            )
            for q in ("p50", "p99")
        }
        close = max(gap.values()) <= 0.10
        parts.append(
            f"Below saturation ({len(below)} point(s)), latency from the schedule and service "
            f"time {'agree closely' if close else 'differ'}: latency is at most "
            f"{100 * gap['p50']:.1f} % above service time at p50 and {100 * gap['p99']:.1f} % "
            "at p99"
        )
    if sat is not None and (sat != "").any():
        at = pts[sat != ""]
        gaps = (at["latency_p99"] - at["service_p99"]) / at["service_p99"]
        worst = at.loc[gaps.idxmax()]
        where = (
            f"at {fmt_level(worst['rps'])} RPS ({worst['saturation']})"
            if "rps" in at.columns
            else f"where {worst['saturation']}"
        )
        if gaps.max() > 0.10:
            parts.append(
                f"they part where something ran out: {where} p99 latency is "
                f"{worst['latency_p99']:.0f} ms against {worst['service_p99']:.0f} ms of "
                "service time (requests waited for their turn before they were sent)"
            )
        else:
            parts.append(
                f"where something ran out they still agree: at most {100 * gaps.max():.1f} % "
                f"apart at p99 ({where})"
            )
    return ("; ".join(parts) + ".") if parts else ""


def capacity_lines(rows: pd.DataFrame) -> list[str]:
    """One sentence per capacity search, from analysis.tables.capacity_rows (the data of
    paper/capacity.csv): capacity, bracket, and how it stands next to the study's rate."""
    out = []
    for r in rows.to_dict("records"):
        out.append(
            f"{r['library']} {r['connections']}, host_cpus {r['host_cpus']}, client TCP "
            f"{r['client_tcp']} ({r['host']}, {r['command']}, {r['profile']}"
            f"{', trial ' + r['trial'] if r.get('trial') else ''}): "
            + (f"{r['capacity']} RPS, " if r["capacity"] else "")
            + f"bracket {r['bracket']}; {r['versus_study']}"
        )
    return out


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return df.to_dict("records")


def _claim_rows(layout: SweepLayout) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    summary = _records(layout.claims_summary)
    details = []
    if layout.claims.exists():
        d = pd.read_csv(layout.claims)
        # A measured claim's uncovered configurations are left out (claims.csv has them).
        measured = set(d.loc[d["verdict"] != NOT_MEASURED, "claim_id"])
        d = d[(d["verdict"] != NOT_MEASURED) | ~d["claim_id"].isin(measured)]
        for r in d.itertuples(index=False):
            details.append(
                {
                    "claim_id": r.claim_id,
                    "group": r.group,
                    "verdict": r.verdict,
                    "estimate": nan_to(r.estimate),
                    "value": fmt(r.value),
                    "ci": fmt_ci(r.ci_low, r.ci_high),
                    "ci_method": nan_to(r.ci_method),
                    "unit": nan_to(r.unit),
                    "test": f"{r.comparison} {r.threshold}",
                    "trials": int(r.n_trials),
                    "note": nan_to(r.note),
                }
            )
    return summary, details


def figure_label(stem: str) -> str:
    """The figure's number as the report prints it: fig1b_load_variants -> "1b"."""
    m = re.match(r"fig(\d+[a-z]?)_", stem)
    return m.group(1) if m else stem


def figure_entries(layout: SweepLayout, embed: bool) -> list[dict[str, Any]]:
    """Each figure: embedded (HTML) or linked (Markdown), or, when it has nothing to show,
    the one line that says why (from figures/<stem>.json, written by analysis.figures), with
    what the figure kept fixed or pooled (its notes) for the caption."""
    out = []
    for stem in FIGURES:
        png = layout.figure(stem, "png")
        entry = {
            "stem": stem,
            "label": figure_label(stem),
            "title": TITLES.get(stem, stem),
            "caption": CAPTIONS.get(stem, ""),
        }
        info = layout.figure(stem, "json")
        record = json.loads(info.read_text()) if info.exists() else {}
        entry["exists"] = png.exists()
        entry["shown"] = bool(record.get("shown", png.exists()))
        entry["why"] = record.get("why") or ("" if png.exists() else "figure not built")
        entry["notes"] = "; ".join(record.get("notes") or [])
        if embed and entry["shown"] and png.exists():
            entry["src"] = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
        else:
            entry["src"] = os.path.relpath(png, layout.paper)
        entry["pdf"] = os.path.relpath(layout.figure(stem, "pdf"), layout.paper)
        out.append(entry)
    return out


def summary_entry(layout: SweepLayout, embed: bool) -> dict[str, Any]:
    """The summary figure (analysis.figures_summary, drawn by render_report)."""
    png = layout.figure(SUMMARY_STEM, "png")
    info = layout.figure(SUMMARY_STEM, "json")
    record = json.loads(info.read_text()) if info.exists() else {}
    shown = bool(record.get("shown")) and png.exists()
    src = os.path.relpath(png, layout.paper)
    if embed and shown:
        src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    return {"shown": shown, "why": record.get("why") or "figure not built", "src": src}


def answer_rows(layout: SweepLayout) -> list[dict[str, Any]]:
    """The first screen's table: per claim, what the study said, what this sweep measured
    (each configuration's value and CI, compact) and the verdict."""
    summary = _records(layout.claims_summary)
    if not layout.claims.exists():
        return [{**r, "measured": ""} for r in summary]
    d = pd.read_csv(layout.claims)
    rows = []
    for r in summary:
        mine = d[(d["claim_id"] == r["claim_id"]) & d["value"].notna()]
        parts = []
        for m in mine.itertuples(index=False):
            ci_text = fmt_ci(m.ci_low, m.ci_high)
            where = "" if m.group == "all" else f"{m.group}: "
            parts.append(f"{where}{fmt(m.value)}" + (f" {ci_text}" if ci_text else ""))
        shown = parts[:3] + ([f"... ({len(parts)} configurations)"] if len(parts) > 3 else [])
        rows.append({**r, "measured": shown})
    return rows


def build_context(layout: SweepLayout, embed: bool) -> dict[str, Any]:
    """Everything the templates show; figures embedded (HTML) or linked (Markdown)."""
    tidy = read_tidy(layout.tidy)
    sweep = _distinct(tidy["sweep"])[0] if "sweep" in tidy.columns and len(tidy) else None
    summary, details = _claim_rows(layout)
    study = load_study(paths.PAPER_DIR / "claims.yaml")
    ours = testbed_facts(tidy)
    return {
        "sweep": sweep or layout.root.name,
        "sweep_dir": layout.root,
        "facts": sweep_facts(tidy),
        "claims": summary,
        "claim_details": details,
        "verdicts": {"holds": HOLDS, "fails": FAILS, "not_measured": NOT_MEASURED},
        "verdict_rules": VERDICT_RULES,
        "min_trials": MIN_TRIALS,
        "figures": figure_entries(layout, embed),
        "summary_figure": summary_entry(layout, embed),
        "answer": answer_rows(layout),
        "verdict_classes": VERDICT_CLASSES,
        "latency_vs_service": latency_vs_service(tidy),
        "capacity": capacity_lines(whole_numbers(capacity_rows(capacity_searches(tidy)))),
        "tables": {
            "percentiles": _records(layout.table("percentiles", "csv")),
            "mean_response": _records(layout.table("mean_response", "csv")),
            "sshd_profiles": _records(layout.table("sshd_profiles", "csv")),
            "libraries": _records(layout.table("libraries", "csv")),
            "capacity": _records(layout.table("capacity", "csv")),
        },
        "not_measured": NOT_MEASURED_TEXT,
        "study": study,
        "testbed": ours,
        "differences": testbed_differences(study, ours),
        "provenance": provenance_summary(tidy),
        "tex_tables": sorted(p.name for p in layout.paper.glob("*.tex")),
        "rerun": {
            "analysis": f"python -m analysis {layout.root}",
            "sweep": f"snakemake --cores 2 --configfile experiments/{sweep or 'quick'}.yaml",
            "snakemake_report": "snakemake --report report.html "
            f"--configfile experiments/{sweep or 'quick'}.yaml",
        },
    }


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_report(layout: SweepLayout) -> tuple[Path, Path]:
    """Write paper/report.html (figures embedded) and paper/report.md (figures linked)."""
    layout.paper.mkdir(parents=True, exist_ok=True)
    draw_summary(layout.claims, layout.claims_summary, layout.figure(SUMMARY_STEM, "png"))
    env = _env()
    html = env.get_template("report.html.j2").render(**build_context(layout, embed=True))
    layout.report_html.write_text(html)
    md = env.get_template("report.md.j2").render(**build_context(layout, embed=False))
    layout.report_md.write_text(md)
    log.info("report -> %s, %s", layout.report_html, layout.report_md)
    return layout.report_html, layout.report_md
