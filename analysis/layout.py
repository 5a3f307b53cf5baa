"""Where the analysis writes, for one sweep directory.

The directories come from the same layout as ``sshbench.paths`` (``sweep_dir``,
``figures_dir``, ``paper_out_dir``; a test checks they agree). The analysis takes a sweep
*directory* rather than a sweep name so a reviewer can point it at any copy of a sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sshbench import paths

# Figure stems, in the order the report shows them.
FIGURES: tuple[str, ...] = (
    "fig1_load_percentiles",
    "fig2_mean_response_by_host",
    "fig3_sshd_profiles",
    "fig4_libraries_and_modes",
    "fig5_target_vs_achieved_rps",
    "fig6_variability",
)

# Paper tables (stems); each is written as .csv and as a booktabs .tex snippet.
TABLES: tuple[str, ...] = (
    "claims",
    "published_vs_measured",
    "percentiles",
    "mean_response",
    "sshd_profiles",
)


@dataclass(frozen=True)
class Layout:
    """Every analysis path of one sweep, derived from its directory."""

    sweep_dir: Path

    def __init__(self, sweep_dir: str | Path) -> None:
        object.__setattr__(self, "sweep_dir", Path(sweep_dir))

    @property
    def points_dir(self) -> Path:
        return self.sweep_dir / "points"

    @property
    def figures_dir(self) -> Path:
        return self.sweep_dir / "figures"

    @property
    def paper_dir(self) -> Path:
        return self.sweep_dir / "paper"

    @property
    def logs_dir(self) -> Path:
        return self.sweep_dir / "logs" / "analysis"

    @property
    def tidy_csv(self) -> Path:
        return self.sweep_dir / "tidy.csv"

    @property
    def tidy_parquet(self) -> Path:
        return self.sweep_dir / "tidy.parquet"

    @property
    def claims_csv(self) -> Path:
        return self.paper_dir / "claims.csv"

    @property
    def claims_summary_csv(self) -> Path:
        return self.paper_dir / "claims_summary.csv"

    @property
    def report_html(self) -> Path:
        return self.paper_dir / "report.html"

    @property
    def report_md(self) -> Path:
        return self.paper_dir / "report.md"

    def log(self, step: str) -> Path:
        return self.logs_dir / f"{step}.log"

    def figure(self, stem: str, ext: str) -> Path:
        return self.figures_dir / f"{stem}.{ext}"

    def table(self, stem: str, ext: str) -> Path:
        return self.paper_dir / f"{stem}.{ext}"

    def figure_outputs(self) -> list[Path]:
        return [self.figure(s, e) for s in FIGURES for e in ("png", "pdf")]

    def table_outputs(self) -> list[Path]:
        """Tables besides claims.csv (which has its own rule output)."""
        out = [self.table(s, e) for s in TABLES for e in ("csv", "tex")]
        return [self.claims_summary_csv, *(p for p in out if p != self.claims_csv)]

    def all_outputs(self) -> list[Path]:
        return [
            self.tidy_csv,
            self.tidy_parquet,
            *self.figure_outputs(),
            self.claims_csv,
            *self.table_outputs(),
            self.report_html,
            self.report_md,
        ]


def analysis_targets(sweep_dir: str | Path) -> list[str]:
    """Every file the analysis makes for one sweep (what the workflow's `rule all` asks for)."""
    return [str(p) for p in Layout(sweep_dir).all_outputs()]


# The code and templates each analysis step runs, so that editing one reruns that step (and
# what follows) in Snakemake, never a point. Paths from sshbench.paths.
_ANALYSIS = paths.ROOT / "analysis"
_TEMPLATES = paths.PAPER_DIR / "templates"
CODE: dict[str, tuple[Path, ...]] = {
    "collect": (_ANALYSIS / "collect.py",),
    "figure": (_ANALYSIS / "figures.py", _ANALYSIS / "captions.py", _ANALYSIS / "stats.py"),
    "tables": (
        _ANALYSIS / "tables.py",
        _ANALYSIS / "claims.py",
        _ANALYSIS / "stats.py",
        _TEMPLATES / "table.tex.j2",
    ),
    "report": (
        _ANALYSIS / "report.py",
        _TEMPLATES / "report.html.j2",
        _TEMPLATES / "report.md.j2",
        paths.PAPER_DIR / "claims.yaml",
    ),
}


def code_inputs(step: str) -> list[str]:
    """The code and template files of one analysis step (a Snakemake rule's input)."""
    return [str(p) for p in CODE[step]]
