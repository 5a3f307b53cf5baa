"""Snakemake script: one figure (PNG and PDF) from tidy.csv."""

from pathlib import Path

from analysis.collect import read_tidy
from analysis.figures import draw
from analysis.logs import logged

smk = snakemake  # noqa: F821 (injected by Snakemake)
with logged(smk.log[0]):
    tidy = read_tidy(Path(smk.input.tidy), provenance=False)  # no figure draws provenance
    draw(smk.wildcards.figure, tidy, Path(smk.output.png))
