"""claims.csv's projected columns (the one call analysis.tables makes into the model).

Light on purpose (pandas only), so the claims step does not depend on the simulation's code;
it reads what the model step wrote, results/<sweep>/model/projection.csv.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NOT_PROJECTED = "not projected"
CLAIM_COLUMNS = ("projected_verdict", "projected_value", "break_even_speed")


def add_projection(claims: pd.DataFrame, projection_csv: Path | None) -> pd.DataFrame:
    """claims.csv's projected columns, per claim_id, after every measured column (the hook
    analysis.tables calls); "not projected" for every claim when there is no projection."""
    out = claims.copy()
    proj = (
        pd.read_csv(projection_csv)
        if projection_csv is not None and Path(projection_csv).exists()
        else pd.DataFrame(columns=["claim_id", *CLAIM_COLUMNS])
    )
    by_id: dict[str, Any] = proj.set_index("claim_id").to_dict("index") if len(proj) else {}
    out["projected_verdict"] = [
        by_id.get(i, {}).get("projected_verdict", NOT_PROJECTED) for i in out["claim_id"]
    ]
    for col in CLAIM_COLUMNS[1:]:
        out[col] = [by_id.get(i, {}).get(col, np.nan) for i in out["claim_id"]]
    return out
