"""python -m analysis.model RESULTS/<sweep> [--inventory FILE]: rerun the model on a sweep's
tidy.csv; with --inventory, also project the claims onto that inventory's declared sizes
(its hosts' testbed_host_study_cpus, testbed_client_cpus or 2 for the client), so a reviewer
can see what the VMs they are about to rent would do. Writes model/projection_<name>.csv."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.collect import read_tidy
from analysis.model.demands import fit_demands
from analysis.model.projection import project
from analysis.model.run import run_model
from analysis.model.topology import inventory_topology
from analysis.model.validate import calibrate, machine_of
from sshbench import paths
from sshbench.paths import SweepLayout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analysis.model", description=__doc__)
    ap.add_argument("sweep_dir", type=Path)
    ap.add_argument("--inventory", type=Path, help="an Ansible inventory file (YAML)")
    args = ap.parse_args(argv)
    layout = SweepLayout(args.sweep_dir)
    if not layout.tidy.exists():
        print(f"{layout.tidy}: no tidy table (run the analysis first)", file=sys.stderr)
        return 1
    claims = paths.PAPER_DIR / "claims.yaml"
    tidy = read_tidy(layout.tidy)
    run_model(layout, tidy, claims)
    state = json.loads(layout.model_file("validation.json").read_text())
    print(f"model validated: {state['validated']} ({state['why']})")
    if args.inventory is not None:
        try:
            topo = inventory_topology(args.inventory)
        except (OSError, ValueError) as exc:
            print(f"--inventory: {exc}", file=sys.stderr)
            return 1
        fits = fit_demands(tidy)
        m = machine_of(tidy)
        for f in fits:
            calibrate(f, m)
        proj = project(claims, fits, topo, bool(state["validated"]))
        out = layout.model_file(f"projection_{args.inventory.stem.replace('.', '_')}.csv")
        proj.to_csv(out, index=False)
        for s in proj["sentence"].fillna(""):
            if s:
                print(s)
        print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
