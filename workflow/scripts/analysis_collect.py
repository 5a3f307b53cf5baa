"""Snakemake script: the sweep's points -> tidy.csv and tidy.parquet.

The points are analysis.collect.point_dirs' (the plan's: the current config's points and
each capacity search's steps), the same as `python -m analysis` takes: a point directory
left from an earlier version of the config stays on disk but out of the analysis.
"""

from pathlib import Path

from analysis.collect import collect, write_tidy
from analysis.logs import logged

smk = snakemake  # noqa: F821 (injected by Snakemake)
with logged(smk.log[0]):
    sweep_dir = Path(smk.output.csv).parent
    write_tidy(collect(sweep_dir), Path(smk.output.csv), Path(smk.output.parquet))
