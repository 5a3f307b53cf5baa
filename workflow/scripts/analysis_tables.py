"""Snakemake script: the claims check and the paper tables (CSV + LaTeX) from tidy.csv."""

from pathlib import Path

from analysis.collect import read_tidy
from analysis.logs import logged
from analysis.tables import write_tables
from sshbench.paths import SweepLayout

smk = snakemake  # noqa: F821 (injected by Snakemake)
with logged(smk.log[0]):
    layout = SweepLayout(Path(smk.input.tidy).parent)
    write_tables(read_tidy(Path(smk.input.tidy)), Path(smk.input.claims_file), layout)
