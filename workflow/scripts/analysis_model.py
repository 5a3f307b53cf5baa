"""Snakemake script: the model (demands, validation, projection, figure 9, section)."""

from pathlib import Path

from analysis.collect import read_tidy
from analysis.logs import logged
from analysis.model.run import run_model
from sshbench.paths import SweepLayout

smk = snakemake  # noqa: F821 (injected by Snakemake)
with logged(smk.log[0]):
    layout = SweepLayout(Path(smk.input.tidy).parent)
    run_model(layout, read_tidy(Path(smk.input.tidy)), Path(smk.input.claims_file))
