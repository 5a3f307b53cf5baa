"""Snakemake script of rule plan: the sweep's points in run order, with their costs."""

import json
from pathlib import Path

snakemake = globals()["snakemake"]
out = Path(snakemake.output[0])
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(dict(snakemake.params.plan), indent=1) + "\n")
Path(snakemake.log[0]).write_text(f"{len(snakemake.params.plan['points'])} points planned\n")
