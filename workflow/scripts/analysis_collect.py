"""Snakemake script: the sweep's points -> tidy.csv and tidy.parquet.

Only the points of the current config (the rule's inputs) are collected: a point directory
left from an earlier version of the config stays on disk but out of the analysis. A capacity
search's record names its steps, each a point directory of its own.
"""

import json
from pathlib import Path

from analysis.collect import collect, write_tidy
from analysis.logs import logged
from sshbench import paths

smk = snakemake  # noqa: F821 (injected by Snakemake)
with logged(smk.log[0]):
    sweep_dir = Path(smk.output.csv).parent
    dirs = [Path(p).parent for p in smk.input.points]
    layout = paths.SweepLayout(sweep_dir)
    for search in smk.input.searches:
        steps = json.loads(Path(search).read_text())["steps"]
        dirs += [layout.point(s["id"]) for s in steps]
    write_tidy(collect(sweep_dir, dirs), Path(smk.output.csv), Path(smk.output.parquet))
