"""Snakemake script: the reproduction report (HTML and Markdown) from the built outputs."""

from pathlib import Path

from analysis.logs import logged
from analysis.report import render_report
from sshbench.paths import SweepLayout

smk = snakemake  # noqa: F821 (injected by Snakemake)
with logged(smk.log[0]):
    render_report(SweepLayout(Path(smk.input.tidy).parent))
