"""Snakemake script of rule testbed_up: provision the testbed with the first point's profile."""

import json
from pathlib import Path

from sshbench.testbed import testbed

snakemake = globals()["snakemake"]
status = testbed.up(
    inventory=snakemake.params.inventory,
    profile=snakemake.params.profile,
    profiles=dict(snakemake.params.profiles),
)
Path(snakemake.log[0]).write_text(json.dumps(status, indent=1) + "\n")
print(f"testbed {status['testbed']}: up, hosts {', '.join(status['hosts'])}", flush=True)
