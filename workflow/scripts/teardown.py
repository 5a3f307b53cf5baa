"""Snakemake script of rule teardown: stop the SSH API, take the testbed down."""

from sshbench.sweep import point

snakemake = globals()["snakemake"]
with open(snakemake.log[0], "w") as log:
    point.teardown(log=lambda msg: print(msg, file=log, flush=True))
