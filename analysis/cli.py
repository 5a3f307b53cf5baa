"""`python -m analysis SWEEP_DIR`: redo collect, figures, tables, claims and report.

The same functions the Snakemake rules call, for a reviewer without Snakemake. It reads
only the finished point directories, so it never reruns a point.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from analysis.logs import logged
from sshbench import paths
from sshbench.paths import FIGURES, SweepLayout

log = logging.getLogger("analysis")


def run_all(sweep_dir: Path, claims_file: Path | None = None) -> Path:
    """Collect, draw every figure, check the claims, write tables and the report."""
    from analysis.collect import collect, write_tidy
    from analysis.figures import draw
    from analysis.report import render_report
    from analysis.tables import write_tables

    layout = SweepLayout(sweep_dir)
    tidy = collect(sweep_dir)
    write_tidy(tidy, layout.tidy, layout.tidy_parquet)
    log.info("tidy table: %d rows -> %s", len(tidy), layout.tidy)
    for stem in FIGURES:
        draw(stem, tidy, layout.figure(stem, "png"))
    from analysis.model.run import run_model  # model (issue 19): before the claims use it

    run_model(layout, tidy, claims_file or default_claims_file())
    write_tables(tidy, claims_file or default_claims_file(), layout)
    render_report(layout)
    return layout.report_html


def default_claims_file() -> Path:
    return paths.PAPER_DIR / "claims.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Rebuild tidy table, figures, claims check, tables and report "
        "from a finished sweep directory (results/<sweep>); no point is rerun.",
    )
    parser.add_argument(
        "sweep_dir",
        type=Path,
        help="results/<sweep>; every points/*/point.json under it is collected",
    )
    parser.add_argument("--claims", type=Path, default=None, help="claims file (YAML)")
    args = parser.parse_args(argv)
    if not (args.sweep_dir / "points").is_dir():
        parser.error(f"{args.sweep_dir} has no points/ directory: pass results/<sweep>")
    with logged(SweepLayout(args.sweep_dir).log("cli")):
        report = run_all(args.sweep_dir, args.claims)
    print(f"report: {report}")
    return 0
