"""Snakemake script of rule run_point: run one sweep point (sshbench.sweep.point)."""

from pathlib import Path

from sshbench.sweep import point

snakemake = globals()["snakemake"]
point.run(
    snakemake.params.sweep,
    snakemake.wildcards.point,
    dict(snakemake.params.point),
    dict(snakemake.params.settings),
    Path(snakemake.log[0]),
)
