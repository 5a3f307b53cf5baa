"""Every point directory of a sweep -> one tidy table (one row per point and metric).

The metrics themselves are measure.metrics' (its docstring defines every one); this module
lays them out: one row per point and metric, the point's parameters as columns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from measure.metrics import POINT_COLUMNS, load_point
from measure.point import POINT_FILE
from sshbench.paths import SweepLayout

log = logging.getLogger(__name__)

# Columns that lead the tidy table; every other column is a parameter or provenance field.
LEAD_COLUMNS = ["sweep", "point_id", "status", "metric", "value", "unit", "quantile"]

# point.json keys not copied into columns: handled as lead/param columns, recomputed here
# (counts -> metrics, integrity/limits -> POINT_COLUMNS), or not scalar (samples).
_SKIP = {"id", "sweep", "status", "params", "counts", *POINT_COLUMNS}
_SKIP_NESTED = {"resources.samples", "loadgen.limited", "loadgen.limited_by"}

# Provenance text longer than this (a whole sshd_config, `sshd -T` output) is replaced in
# the tidy table by its hash and length; point.json keeps the text.
LONG_TEXT = 300


def _cell(val: Any) -> Any:
    if isinstance(val, str) and len(val) > LONG_TEXT:
        digest = hashlib.sha256(val.encode()).hexdigest()[:16]
        return f"sha256:{digest} ({len(val)} chars, text in point.json)"
    return val


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {"a.b.c": scalar}; lists become JSON text so every cell is a scalar."""
    out: dict[str, Any] = {}
    if prefix[:-1] in _SKIP_NESTED:
        return out
    if isinstance(obj, dict):
        for key, val in obj.items():
            out.update(flatten(val, f"{prefix}{key}."))
        if not obj and prefix:
            out[prefix[:-1]] = None
    elif isinstance(obj, list | tuple):
        out[prefix[:-1]] = _cell(json.dumps(obj, sort_keys=True, default=str))
    else:
        out[prefix[:-1]] = _cell(obj)
    return out


def point_columns(point: dict[str, Any]) -> dict[str, Any]:
    """One point.json as flat columns: parameters unprefixed, the rest by their json path.

    ``reruns``: how many earlier failed attempts point.json ``attempts`` lists (the harness
    reruns a point it failed once; ``attempts`` itself is kept as JSON text).
    Left out: ``counts`` (the metrics recount them over the window), point.json's
    ``integrity`` (merged into the computed column), ``resources.samples`` (raw series).
    """
    cols: dict[str, Any] = {
        "sweep": point.get("sweep"),
        "point_id": point.get("id"),
        "status": point.get("status"),
    }
    params = point.get("params") or {}
    for key, val in params.items():
        cols[key] = json.dumps(val) if isinstance(val, list | dict) else val
    # Which columns are the design's parameters (the rest is provenance and outcome).
    cols["param_names"] = json.dumps(sorted(params))
    attempts = point.get("attempts")
    cols["reruns"] = len(attempts) if isinstance(attempts, list) else 0
    for key, val in point.items():
        if key in _SKIP:
            continue
        if isinstance(val, dict):
            cols.update(flatten(val, f"{key}."))
        else:
            cols[key] = _cell(json.dumps(val)) if isinstance(val, list) else val
    return cols


def collect_point(point_dir: Path) -> list[dict[str, Any]]:
    """Tidy rows of one point directory (a failed point gives at least its status rows)."""
    point, result = load_point(point_dir)
    cols = {**point_columns(point), **result.columns}
    return [
        {**cols, "metric": m, "value": v, "unit": u, "quantile": q} for m, v, u, q in result.rows
    ]


def point_dirs(sweep_dir: Path) -> list[Path]:
    """The points the analysis takes, for `python -m analysis` and the workflow alike: the
    finished points of the sweep's plan.json (the current config's points, and the steps
    each capacity search's record lists), sorted by name. A sweep without a plan.json (a
    copy of its points only): every finished point directory."""
    layout = SweepLayout(sweep_dir)
    finished = {p.parent.name: p.parent for p in layout.points.glob(f"*/{POINT_FILE}")}
    try:
        plan = json.loads(layout.plan.read_text())
    except FileNotFoundError:
        return sorted(finished.values())
    except ValueError as exc:
        raise ValueError(f"{layout.plan}: not valid JSON ({exc})") from exc
    ids = set()
    for row in plan.get("points") or []:
        if row.get("kind") != "search":
            ids.add(row["id"])
            continue
        record = layout.capacity_search(row["id"])
        if record.exists():
            ids.update(s["id"] for s in json.loads(record.read_text())["steps"])
    return sorted(finished[i] for i in ids if i in finished)


def collect(sweep_dir: Path | str, dirs: Iterable[Path] | None = None) -> pd.DataFrame:
    """The tidy table of a sweep: one row per point and metric, all parameters as columns."""
    sweep_dir = Path(sweep_dir)
    dirs = list(dirs) if dirs is not None else point_dirs(sweep_dir)
    rows: list[dict[str, Any]] = []
    for d in dirs:
        rows.extend(collect_point(d))
    log.info("collected %d point(s) from %s", len(dirs), sweep_dir)
    if not rows:
        return pd.DataFrame(columns=[*LEAD_COLUMNS, *POINT_COLUMNS])
    df = pd.DataFrame(rows)
    rest = [c for c in df.columns if c not in LEAD_COLUMNS]
    return df[LEAD_COLUMNS + rest]


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding mixed types become text, so Parquet can store them."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            types = {type(v) for v in out[col] if v is not None and not _isnan(v)}
            if len(types) > 1 or (types and not types <= {str}):
                out[col] = out[col].map(lambda v: None if v is None or _isnan(v) else str(v))
    return out


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


# point.json's provenance (~3.5 KB a point) is kept once per point, in its own table keyed
# by point_id (provenance.csv and .parquet beside tidy.csv), not on every metric row.
PROVENANCE_PREFIX = "provenance."


def split_provenance(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the tidy table without provenance columns, one row per point_id with them)."""
    cols = [c for c in df.columns if c.startswith(PROVENANCE_PREFIX)]
    prov = df[["point_id", *cols]].drop_duplicates("point_id").reset_index(drop=True)
    return df.drop(columns=cols), prov


def with_provenance(tidy: pd.DataFrame, prov: pd.DataFrame) -> pd.DataFrame:
    """The tidy table with each point's provenance columns joined on point_id."""
    extra = [c for c in prov.columns if c != "point_id" and c not in tidy.columns]
    return tidy.merge(prov[["point_id", *extra]], on="point_id", how="left")


def write_tidy(df: pd.DataFrame, csv_path: Path, parquet_path: Path | None = None) -> None:
    """Write the tidy table as CSV (and Parquet when a path is given), its provenance columns
    as their own table beside it (sshbench.paths: provenance.csv, .parquet); inf is "inf"."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    layout = SweepLayout(csv_path.parent)
    tidy, prov = split_provenance(df)
    tidy.to_csv(csv_path, index=False)
    prov.to_csv(layout.provenance, index=False)
    if parquet_path is not None:
        _parquet_safe(tidy).to_parquet(parquet_path, index=False)
        _parquet_safe(prov).to_parquet(layout.provenance_parquet, index=False)


def read_tidy(csv_path: Path, provenance: bool = True) -> pd.DataFrame:
    """The tidy table back from CSV (what figures, tables and claims read), with each point's
    provenance joined from the table beside it (``provenance=False``: without)."""
    if not Path(csv_path).exists():
        raise FileNotFoundError(f"{csv_path}: no tidy table; run the collect step first")
    tidy = pd.read_csv(csv_path, low_memory=False, keep_default_na=True)
    prov = SweepLayout(Path(csv_path).parent).provenance
    if not provenance or not prov.exists():
        return tidy
    return with_provenance(tidy, pd.read_csv(prov, low_memory=False, keep_default_na=True))
