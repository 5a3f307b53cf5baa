"""Snakemake script of rule run_capacity: one capacity search (sshbench.sweep.capacity)."""

from pathlib import Path

from sshbench.sweep import capacity

snakemake = globals()["snakemake"]
capacity.search(
    snakemake.params.sweep,
    snakemake.wildcards.search,
    dict(snakemake.params.search),
    dict(snakemake.params.settings),
    Path(snakemake.log[0]),
)
