"""Snakemake script: the claims check and the paper tables (CSV + LaTeX) from tidy.csv."""

from pathlib import Path

from analysis.cli import logged
from analysis.collect import read_tidy
from analysis.layout import Layout
from analysis.tables import write_tables

smk = snakemake  # noqa: F821 (injected by Snakemake)
with logged(smk.log[0]):
    layout = Layout(Path(smk.input.tidy).parent)
    write_tables(read_tidy(Path(smk.input.tidy)), Path(smk.input.claims_file), layout)
