"""Snakemake script: one figure (PNG and PDF) from tidy.csv."""

from pathlib import Path

from analysis.collect import read_tidy
from analysis.figures import draw
from analysis.logs import logged

smk = snakemake  # noqa: F821 (injected by Snakemake)
with logged(smk.log[0]):
    draw(smk.wildcards.figure, read_tidy(Path(smk.input.tidy)), Path(smk.output.png))
