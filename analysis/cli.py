"""`python -m analysis SWEEP_DIR`: redo collect, figures, tables, claims and report.

The same functions the Snakemake rules call, for a reviewer without Snakemake. It reads
only the finished point directories, so it never reruns a point.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from sshbench import paths

log = logging.getLogger("analysis")


@contextlib.contextmanager
def logged(log_file: str | Path) -> Iterator[None]:
    """Send the analysis' log lines to LOG_FILE (a Snakemake rule's log:) and to stderr."""
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [
        logging.FileHandler(log_file, mode="w"),
        logging.StreamHandler(sys.stderr),
    ]
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    try:
        yield
    except Exception:
        log.exception("analysis step failed")
        raise
    finally:
        for h in handlers:
            root.removeHandler(h)
            h.close()


def run_all(sweep_dir: Path, claims_file: Path | None = None) -> Path:
    """Collect, draw every figure, check the claims, write tables and the report."""
    from analysis.collect import collect, write_tidy
    from analysis.figures import draw
    from analysis.layout import FIGURES, Layout
    from analysis.report import render_report
    from analysis.tables import write_tables

    layout = Layout(sweep_dir)
    tidy = collect(sweep_dir)
    write_tidy(tidy, layout.tidy_csv, layout.tidy_parquet)
    log.info("tidy table: %d rows -> %s", len(tidy), layout.tidy_csv)
    for stem in FIGURES:
        draw(stem, tidy, layout.figure(stem, "png"))
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
    with logged(args.sweep_dir / "logs" / "analysis" / "cli.log"):
        report = run_all(args.sweep_dir, args.claims)
    print(f"report: {report}")
    return 0
