"""Snakemake script: the reproduction report (HTML and Markdown) from the built outputs."""

from pathlib import Path

from analysis.cli import logged
from analysis.layout import Layout
from analysis.report import render_report

smk = snakemake  # noqa: F821 (injected by Snakemake)
with logged(smk.log[0]):
    render_report(Layout(Path(smk.input.tidy).parent))
