"""The paper's tables: the study's numbers next to ours, as CSV and LaTeX (booktabs).

Every cell comes from the tidy table or the claims file; nothing is typed here. The LaTeX
snippets are rendered from paper/templates/table.tex.j2 and can be ``\\input`` by a paper
that loads booktabs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from analysis.claims import evaluate, load_claims
from analysis.common import NOT_MEASURED, fmt_level, isnan
from analysis.model.claims_hook import add_projection  # model (issue 19)
from analysis.select import (
    LIBRARY_ORDER,
    STUDY,
    STUDY_RPS,
    capacity_searches,
    http_load,
    integrity_ok,
    keep_one,
    latency_metric,
    ok_points,
    per_point,
    service_metric,
    study_config,
)
from analysis.stats import t_interval, wilson_interval
from measure.metrics import PERCENTILES
from sshbench import paths
from sshbench.paths import SweepLayout

log = logging.getLogger(__name__)

TEMPLATES_DIR = paths.PAPER_DIR / "templates"

CAPTIONS = {
    "claims": "The study's claims checked on this sweep (verdicts computed from the data).",
    "published_vs_measured": "The study's published numbers next to this sweep's, per "
    "configuration, with 95\\,\\% confidence intervals.",
    "percentiles": "Latency percentiles (ms) per request rate, mean over trials (the numbers "
    "of the load-test figure): latency from the intended send time, service time from the "
    "actual send beside it.",
    "mean_response": "Mean latency (ms) per host, command and rate, with Student-t "
    "95\\,\\% confidence intervals over trials.",
    "sshd_profiles": "Requests and failures under each sshd profile (summed over trials), "
    "failure rate with Wilson 95\\,\\% interval.",
    "libraries": "The SSH libraries side by side at each rate where more than one was "
    "measured: latency percentiles (ms, mean over trials), the API's and the host's CPU per "
    "answer (ms), and public-key authentication alone (auth points, median ms).",
    "capacity": "Capacity (RPS) each configuration sustains within the bound, with the "
    f"bracket the search closed in on, next to the study's {STUDY_RPS:g} RPS.",
}


# ---------------------------------------------------------------- formatting


def fmt(v: Any, digits: int = 3) -> str:
    """A number with `digits` significant digits; blank for missing values."""
    if isnan(v):
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float):
        if float(v).is_integer() and abs(v) < 1e6:
            return str(int(v))
        if 10 ** (digits - 1) <= abs(v) < 1e6:
            return f"{v:.0f}"  # 3890, not 3.89e+03
        return f"{v:.{digits}g}"
    return str(v)


def fmt_ci(low: float, high: float, digits: int = 3) -> str:
    if isnan(low) or isnan(high):
        return ""
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def latex_escape(text: Any) -> str:
    """Escape LaTeX's special characters in a cell or header."""
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_env() -> jinja2.Environment:
    """jinja2 with LaTeX-safe delimiters (\\VAR{...}, \\BLOCK{...}) and an escape filter."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["tex"] = latex_escape
    return env


def to_latex(df: pd.DataFrame, stem: str, align: str | None = None) -> str:
    """A booktabs table float of df (cells escaped), with caption and label."""
    align = align or "".join("r" if _numeric(df[c]) else "l" for c in df.columns)
    return (
        latex_env()
        .get_template("table.tex.j2")
        .render(
            columns=list(df.columns),
            rows=[[fmt(v) for v in row] for row in df.itertuples(index=False)],
            align=align,
            caption=CAPTIONS[stem],
            label=f"tab:{stem.replace('_', '-')}",
            empty=df.empty,
        )
    )


def whole_numbers(df: pd.DataFrame) -> pd.DataFrame:
    """Float columns holding only whole numbers (rates, counts) printed as integers."""
    out = df.copy()
    for col in out.columns:
        vals = out[col]
        if not pd.api.types.is_float_dtype(vals) or vals.isna().all():
            continue
        if (vals.dropna() % 1 == 0).all():
            out[col] = vals.astype("Int64")
    return out


def _numeric(col: pd.Series) -> bool:
    return bool(len(col)) and pd.api.types.is_numeric_dtype(col)


# ---------------------------------------------------------------- the tables


def published_vs_measured(details: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """One row per claim and measured configuration: published, measured [95 % CI], verdict.

    A claim no configuration of the sweep measured keeps its 'not measured' rows; the
    configurations of a measured claim that the sweep did not cover are left out here (they
    are in claims.csv, with the reason).
    """
    if details.empty:
        return pd.DataFrame(columns=["claim", "published", "configuration", "measured", "verdict"])
    pub = summary.set_index("claim_id")["published"]
    measured_claims = set(details.loc[details["verdict"] != NOT_MEASURED, "claim_id"])
    rows = []
    for r in details.itertuples(index=False):
        if r.verdict == NOT_MEASURED and r.claim_id in measured_claims:
            continue  # listed in claims.csv; here only what was measured, or one line
        rows.append(
            {
                "claim": r.claim_id,
                "published": pub.get(r.claim_id, ""),
                "test": f"{r.comparison} {r.threshold}",
                "configuration": r.group,
                "measured": fmt(r.value),
                "95 % CI": fmt_ci(r.ci_low, r.ci_high),
                "unit": r.unit,
                "trials": int(r.n_trials),
                "verdict": r.verdict,
            }
        )
    return pd.DataFrame(rows)


def claims_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: text, source, verdict, the levels it names that were measured and
    those missing, configurations measured/holding."""
    if summary.empty:
        return pd.DataFrame(columns=["claim", "text", "source", "verdict"])
    return pd.DataFrame(
        {
            "claim": summary["claim_id"],
            "text": summary["text"],
            "source": summary["source"],
            "verdict": summary["verdict"],
            "levels measured": summary["levels_measured"].fillna(""),
            "levels missing": summary["levels_missing"].fillna(""),
            "holding / measured configurations": [
                f"{h} / {m}"
                for h, m in zip(summary["groups_holding"], summary["groups_measured"], strict=True)
            ],
        }
    )


def _study_points(tidy: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    pts, _ = study_config(ok_points(per_point(tidy, metrics)))
    return pts


def _present(df: pd.DataFrame, cols: Sequence[str]) -> list[str]:
    return [c for c in cols if c in df.columns and df[c].notna().any()]


def _saturation(g: pd.DataFrame) -> str:
    """The tidy saturation wording of a group of points, with how many it concerns."""
    if "saturation" not in g.columns:
        return ""
    texts = g["saturation"].fillna("").astype(str)
    parts = [f"{t} ({n} of {len(g)})" for t, n in texts[texts != ""].value_counts().items()]
    return "; ".join(sorted(parts))


def percentiles_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """Mean over trials of each latency percentile, per host, profile, command and rate, with
    the service-time percentiles in the next row (measure: latency / service)."""
    lat = [latency_metric(q) for q in PERCENTILES]
    svc = [service_metric(q) for q in PERCENTILES]
    pts = _study_points(tidy, [*lat, *svc])
    keys = _present(pts, ["host", "profile", "command", "rps"])
    cols = [f"p{q:g}" for q in PERCENTILES]
    if pts.empty or not keys or pts[lat].isna().all().all():
        return pd.DataFrame(columns=["rps", "measure", *cols])
    rows = []
    for key, g in pts.groupby(keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        for measure, metrics in (("latency", lat), ("service", svc)):
            if g[metrics].isna().all().all():
                continue
            means = [round(float(g[m].mean()), 1) for m in metrics]
            row = {**dict(zip(keys, key, strict=True)), "measure": measure, "trials": len(g)}
            rows.append(
                {**row, **dict(zip(cols, means, strict=True)), "saturation": _saturation(g)}
            )
    return pd.DataFrame(rows)


def mean_response_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """Mean latency with Student t 95 % CI over trials, per host, command and rate."""
    pts = _study_points(tidy, ["latency_mean"])
    keys = _present(pts, ["profile", "command", "rps", "host"])
    if pts.empty or not keys or pts["latency_mean"].isna().all():
        return pd.DataFrame(columns=["rps", "host", "mean (ms)", "95 % CI (ms)", "trials"])
    rows = []
    for key, g in pts.groupby(keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        mean, low, high = t_interval(g["latency_mean"].tolist())
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "mean (ms)": round(mean, 1),
                "95 % CI (ms)": fmt_ci(low, high, 4),
                "trials": len(g),
                "saturation": _saturation(g),
            }
        )
    return pd.DataFrame(rows)


def sshd_profiles_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """Requests, failures by class and failure rate (Wilson 95 %) per profile and load."""
    names = tidy["metric"].dropna().unique() if "metric" in tidy.columns else []
    classes = sorted(m for m in names if str(m).startswith("failures_"))
    pts = per_point(tidy, ["requests", "failures", *classes])
    pts = pts[integrity_ok(pts)] if not pts.empty else pts
    pts = http_load(pts)
    for col in ("library", "connections", "host_cpus", "client_tcp"):
        pts, _ = keep_one(pts, col, STUDY.get(col))
    keys = _present(pts, ["profile", "pattern", "rps", "burst_size"])
    if pts.empty or not keys or "profile" not in keys:
        return pd.DataFrame(columns=["profile", "rps", "requests", "failures"])
    rows = []
    for key, g in pts.groupby(keys, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        req, fail = float(g["requests"].sum()), float(g["failures"].sum())
        rate, low, high = wilson_interval(fail, req)
        row = {**dict(zip(keys, key, strict=True)), "points": len(g)}
        row["failed points"] = int((g["status"] != "ok").sum())
        row.update({"requests": int(req), "failures": int(fail)})
        row["failure rate"] = fmt(rate)
        row["95 % CI"] = fmt_ci(low, high)
        for c in classes:
            n = int(g[c].fillna(0).sum())
            if n:
                row[c.removeprefix("failures_")] = n
        row["saturation"] = _saturation(g)
        rows.append(row)
    out = pd.DataFrame(rows)
    for c in classes:
        name = c.removeprefix("failures_")
        if name in out.columns:
            out[name] = out[name].fillna(0).astype(int)
    return out


LIBRARY_METRICS = {
    "p50 (ms)": latency_metric(50),
    "p99 (ms)": latency_metric(99),
    "service p50 (ms)": service_metric(50),
    "API CPU/answer (ms)": "demand_ms_api",
    "host CPU/answer (ms)": "demand_ms_host",
}
AUTH_COLUMN = "auth alone p50 (ms)"


def libraries_table(tidy: pd.DataFrame) -> pd.DataFrame:
    """Per library, connection mode and client TCP mode, at each rate (sustained) where more
    than one library ran: the LIBRARY_METRICS, mean over trials; beside them each library's
    authentication alone (auth points, mean of the trials' medians) under that TCP mode."""
    keys = ["library", "connections", "client_tcp", "rps"]
    pts = ok_points(per_point(tidy, list(LIBRARY_METRICS.values())))
    if pts.empty or not set(keys) <= set(pts.columns) or "pattern" not in pts.columns:
        return pd.DataFrame(columns=[*keys, *LIBRARY_METRICS, AUTH_COLUMN])
    auth = pts[pts["pattern"] == "auth"]
    auth_p50 = auth.groupby(["library", "client_tcp"])[latency_metric(50)].mean()
    load = pts[pts["pattern"] == "sustained"]
    for col in ("host", "command", "host_cpus", "profile"):
        load, _ = keep_one(load, col, STUDY.get(col), cover=["library"])
    compared = load.groupby("rps")["library"].transform("nunique") > 1
    rows = []
    for key, g in load[compared].groupby(keys, sort=True):
        row = {**dict(zip(keys, key, strict=True)), "trials": len(g)}
        for name, metric in LIBRARY_METRICS.items():
            row[name] = round(float(g[metric].mean()), 1) if g[metric].notna().any() else ""
        a = auth_p50.get((key[0], key[2]))
        row[AUTH_COLUMN] = "" if a is None else round(float(a), 1)
        row["saturation"] = _saturation(g)
        rows.append(row)
    shown = {(r["library"], r["client_tcp"]) for r in rows}
    for (lib, tcp), a in auth_p50.items():  # a library timed alone, not under load
        if (lib, tcp) not in shown:
            rows.append({"library": lib, "client_tcp": tcp, AUTH_COLUMN: round(float(a), 1)})
    out = pd.DataFrame(rows, columns=[*keys, "trials", *LIBRARY_METRICS, AUTH_COLUMN, "saturation"])
    order_of = {lib: i for i, lib in enumerate(LIBRARY_ORDER)}
    out["_o"] = out["library"].map(order_of).fillna(len(order_of))
    return out.sort_values(["rps", "connections", "client_tcp", "_o"], na_position="last").drop(
        columns="_o"
    )


# capacity_rows' keys -> the paper table's headers (the report reads the rows, never these).
CAPACITY_HEADERS = {
    "capacity": "capacity (RPS)",
    "bracket": "bracket (RPS)",
    "versus_study": f"vs the study's {STUDY_RPS:g} RPS",
    "first_failing_limited_by": "first failing step limited by",
}


def capacity_table(caps: pd.DataFrame) -> pd.DataFrame:
    """The paper's capacity table: capacity_rows under the table's headers."""
    return capacity_rows(caps).rename(columns=CAPACITY_HEADERS)


def capacity_rows(caps: pd.DataFrame) -> pd.DataFrame:
    """One row per capacity search: the configuration, capacity, bracket, and the capacity
    next to the study's rate (keys: CAPACITY_HEADERS'). caps: analysis.capacity.capacities'."""
    cols = ["library", "connections", "host_cpus", "client_tcp", "capacity"]
    if caps.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for r in caps.to_dict("records"):
        cap = float(r["capacity_rps"])
        rows.append(
            {
                "host": r["host"],
                "command": r["command"],
                "profile": r["profile"],
                "library": r["library"],
                "connections": r["connections"],
                "host_cpus": fmt_level(r["host_cpus"]),
                "client_tcp": r["client_tcp"],
                "trial": fmt_level(r.get("trial", "")),
                "capacity": capacity_text(cap, lower_bound(r)),
                "bracket": fmt_ci(r["bracket_low_rps"], r["bracket_high_rps"]),
                "versus_study": versus_study(
                    cap, bool(r["converged"]), lower_bound(r), r.get("lower_bound_why")
                ),
                "converged": bool(r["converged"]),
                "steps": int(r["steps"]),
                "first_failing_limited_by": r["first_failing_limited_by"],
            }
        )
    return pd.DataFrame(rows)


def lower_bound(search: Mapping[str, Any]) -> bool:
    """True when a search's first failing step was limited by the environment (capacity
    field ``lower_bound``; absent: false): its capacity is then only a lower bound."""
    v = search.get("lower_bound")
    if isnan(v):
        return False
    return str(v).strip().lower() in ("true", "1", "1.0") if isinstance(v, str) else bool(v)


def capacity_text(capacity: float, lower: bool = False) -> Any:
    """A capacity cell: 56.0, or "≥ 56" for a lower bound (the next column says why)."""
    if isnan(capacity):
        return ""
    if lower:
        return f"≥ {capacity:g}"
    return round(capacity, 1)


def versus_study(
    capacity: float, converged: bool = True, lower: bool = False, why: Any = None
) -> str:
    """ "above the study's 90 RPS (x1.3)" / "below ..." for one capacity; a lower bound
    (measure.capacity.judge_search's ``lower_bound``, with its ``lower_bound_why``, by default
    "environment-limited") is compared only when it is already at or above 90."""
    why = "environment-limited" if isnan(why) or not why else str(why)
    if isnan(capacity):
        if lower:
            return f"{why} before any step met the bound: not comparable"
        return f"no step met the bound: below the study's {STUDY_RPS:g} RPS"
    if lower:
        if capacity >= STUDY_RPS:
            return f"at least the study's {STUDY_RPS:g} RPS (lower bound, {why})"
        return f"≥ {capacity:g} RPS, {why}: not comparable with the study's {STUDY_RPS:g} RPS"
    side = "above" if capacity >= STUDY_RPS else "below"
    text = f"{side} the study's {STUDY_RPS:g} RPS (x{capacity / STUDY_RPS:.2f})"
    return text if converged else text + ", search not converged"


def write_tables(tidy: pd.DataFrame, claims_file: Path, layout: SweepLayout) -> dict[str, Path]:
    """Evaluate the claims and write every paper table as CSV and LaTeX; return the paths."""
    claims = load_claims(claims_file)
    details, summary = evaluate(claims, tidy)
    layout.paper.mkdir(parents=True, exist_ok=True)
    # claims.csv keeps every field of the check (for the report); the .tex is the summary.
    details_full = details.merge(
        summary[["claim_id", "text", "source", "published", "operationalisation"]],
        on="claim_id",
        how="left",
    )
    # model (issue 19): projected verdicts beside the measured ones, never in their place
    details_full = add_projection(details_full, layout.model_file("projection.csv"))
    details_full.to_csv(layout.claims, index=False)
    summary.to_csv(layout.claims_summary, index=False)
    tables = {
        "claims": claims_summary(summary),
        "published_vs_measured": published_vs_measured(details, summary),
        "percentiles": percentiles_table(tidy),
        "mean_response": mean_response_table(tidy),
        "sshd_profiles": sshd_profiles_table(tidy),
        "libraries": libraries_table(tidy),
        "capacity": capacity_table(capacity_searches(tidy)),
    }
    written = {"claims_csv": layout.claims}
    for stem, df in tables.items():
        df = whole_numbers(df)
        if stem != "claims":
            df.to_csv(layout.table(stem, "csv"), index=False)
            written[f"{stem}_csv"] = layout.table(stem, "csv")
        tex = layout.table(stem, "tex")
        tex.write_text(to_latex(df, stem))
        written[f"{stem}_tex"] = tex
    for _, r in summary.iterrows():
        log.info("claim %s: %s", r["claim_id"], r["verdict"])
    return written
