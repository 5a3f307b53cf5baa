"""Snakemake script: every figure (PNG, PDF and what it shows) from tidy.csv, in one process.

One job rather than one per figure: each job is a Python process that imports matplotlib,
pandas and scipy (~2.5 s of CPU), which is most of a figure's cost; drawn here one after the
other, the ten figures take ~2 s in all."""

from pathlib import Path

from analysis.collect import read_tidy
from analysis.figures import draw
from analysis.logs import logged
from sshbench.paths import FIGURES

smk = snakemake  # noqa: F821 (injected by Snakemake)
with logged(smk.log[0]):
    tidy = read_tidy(Path(smk.input.tidy), provenance=False)  # no figure draws provenance
    for stem, png in zip(FIGURES, smk.output.png, strict=True):
        draw(stem, tidy, Path(png))
