"""Snakemake script: every point of the sweep -> tidy.csv and tidy.parquet."""

from pathlib import Path

from analysis.cli import logged
from analysis.collect import collect, write_tidy

smk = snakemake  # noqa: F821 (injected by Snakemake)
with logged(smk.log[0]):
    sweep_dir = Path(smk.output.csv).parent
    write_tidy(collect(sweep_dir), Path(smk.output.csv), Path(smk.output.parquet))
