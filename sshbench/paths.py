"""Every path the project uses, in one place. No other module builds a path by hand; the
files inside one point's folder are named by measure.point.PointFiles, which this module
hands out (``SweepLayout.point_files``).

Two environment variables move the writable trees, so tests and parallel runs never share
files: ``SSHBENCH_RESULTS`` (default ``<repo>/results``) and ``SSHBENCH_STATE`` (default
``<repo>/.state``). ``SSHBENCH_TESTBED`` names the testbed (default ``main``); every kernel
object and file a testbed makes carries that name, so two testbeds can exist at once and a
stale one can be found and removed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from measure.point import PointFiles

ROOT = Path(__file__).resolve().parent.parent

ANSIBLE_DIR = ROOT / "ansible"
INVENTORIES_DIR = ANSIBLE_DIR / "inventories"
EXPERIMENTS_DIR = ROOT / "experiments"
WORKFLOW_DIR = ROOT / "workflow"
PAPER_DIR = ROOT / "paper"
LOCUSTFILE = ROOT / "sshbench" / "load" / "locustfile.py"
# The Python environment, exact versions with hashes (`make lock`); its sha256 is in every
# point's provenance.
LOCK_FILE = ROOT / "requirements.lock"
# The Debian packages (and kernel) the measurements depend on, as scripts/setup-system.sh
# found them: one `name<TAB>version` a line. Written at set-up, read into provenance.
SYSTEM_PACKAGES_FILE = ROOT / ".stamps" / "system-packages.tsv"

# Prefix of every kernel object (netns, veth, cgroup) and process tag the project makes.
OBJECT_PREFIX = "sb"

_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,5}$")


def results_dir() -> Path:
    return Path(os.environ.get("SSHBENCH_RESULTS", ROOT / "results"))


def state_dir() -> Path:
    return Path(os.environ.get("SSHBENCH_STATE", ROOT / ".state"))


def testbed_name() -> str:
    """Short name of the current testbed; it goes into interface names (15 chars max)."""
    name = os.environ.get("SSHBENCH_TESTBED", "main")
    if not _NAME_RE.match(name):
        raise ValueError(
            f"SSHBENCH_TESTBED={name!r} is not 1-6 lowercase letters/digits starting with a letter"
        )
    return name


def vms_name() -> str:
    """Short name of the emulated cloud (sshbench.testbed.vms_local), from ``SSHBENCH_VMS`` (default
    ``evms``): its namespaces, links and admin account carry it, as a testbed's carry its own."""
    name = os.environ.get("SSHBENCH_VMS", "evms")
    if not _NAME_RE.match(name):
        raise ValueError(
            f"SSHBENCH_VMS={name!r} is not 1-6 lowercase letters/digits starting with a letter"
        )
    return name


def vms_dir(name: str | None = None) -> Path:
    """Files of one emulated cloud: vms.json (what the vms-local inventory reads), the admin
    key, known_hosts, and per VM its PID file, sshd log and API runtime files."""
    return state_dir() / "vms" / (name or vms_name())


def cache_dir() -> Path:
    """Kept across runs and state dirs (``SSHBENCH_CACHE``, default ``<repo>/.cache``): the
    emulated client VM's Python environment, built once from this checkout's wheel."""
    return Path(os.environ.get("SSHBENCH_CACHE", ROOT / ".cache"))


def user_home(user: str) -> Path:
    """A test or admin account's home (outside any state dir: sshd reads authorized_keys as
    that user, who must be able to traverse every parent)."""
    return Path("/home") / user


def netns_etc(namespace: str) -> Path:
    """What ``ip netns exec`` mounts over /etc for the processes it starts in ``namespace``."""
    return Path("/etc/netns") / namespace


def sudoers_file(name: str) -> Path:
    return Path("/etc/sudoers.d") / name


def testbed_dir(name: str | None = None) -> Path:
    """Runtime files of one testbed: keys, sshd configs, PID files, logs, provenance."""
    return state_dir() / "testbed" / (name or testbed_name())


# Figure stems, in the order the report shows them.
FIGURES: tuple[str, ...] = (
    "fig1_load_percentiles",
    "fig1b_load_variants",
    "fig2_mean_response_by_host",
    "fig3_sshd_profiles",
    "fig4_libraries_and_modes",
    "fig5_target_vs_achieved_rps",
    "fig6_variability",
    "fig7_cpu_per_request",
    "fig8_capacity",
    "fig10_transfer",
)

# Paper tables (stems); each is written as .csv and as a booktabs .tex snippet.
TABLES: tuple[str, ...] = (
    "claims",
    "published_vs_measured",
    "percentiles",
    "mean_response",
    "sshd_profiles",
    "libraries",
    "capacity",
)


# The model's files under results/<sweep>/model/ and its figure (analysis.model).
MODEL_FILES: tuple[str, ...] = (
    "demands.csv",
    "validation.csv",
    "validation.json",
    "projection.csv",
    "curves.csv",
    "section.html",
    "section.md",
)
MODEL_FIGURE = "fig9_projection"


class SweepLayout:
    """Every file and folder of one sweep, derived from its directory (results/<sweep>).

    The runner, the workflow's rules and the analysis all take their paths from here. It
    takes a directory rather than a sweep name so the analysis can be pointed at any copy of
    a sweep; ``SweepLayout.of(name)`` is the sweep under results_dir().
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @classmethod
    def of(cls, sweep: str) -> SweepLayout:
        return cls(results_dir() / sweep)

    def __repr__(self) -> str:
        return f"SweepLayout({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SweepLayout) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    # folders
    @property
    def points(self) -> Path:
        return self.root / "points"

    def point(self, point_id: str) -> Path:
        return self.points / point_id

    def point_files(self, point_id: str) -> PointFiles:
        """The files of one point's folder (point.json, requests.csv, logs)."""
        return PointFiles(self.point(point_id))

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def paper(self) -> Path:
        return self.root / "paper"

    @property
    def logs(self) -> Path:
        """Logs of the sweep's workflow jobs (one per point, testbed bring-up, analysis)."""
        return self.root / "logs"

    @property
    def analysis_logs(self) -> Path:
        return self.logs / "analysis"

    @property
    def flags(self) -> Path:
        """Snakemake flag files of the sweep's side effects (testbed provisioned once)."""
        return self.root / "flags"

    @property
    def capacity(self) -> Path:
        """One JSON per capacity search (the runner writes them)."""
        return self.root / "capacity"

    def capacity_search(self, search: str) -> Path:
        return self.capacity / f"{search}.json"

    @property
    def model(self) -> Path:
        """The model's outputs (analysis.model): demands, validation, projection, section."""
        return self.root / "model"

    def model_file(self, name: str) -> Path:
        return self.model / name

    def model_outputs(self) -> list[Path]:
        """What the model rule writes: its tables and section, and figure 9."""
        return [
            *(self.model_file(n) for n in MODEL_FILES),
            self.figure(MODEL_FIGURE, "png"),
            self.figure(MODEL_FIGURE, "pdf"),
        ]

    # files
    @property
    def plan(self) -> Path:
        """The points in run order with their expected costs (sshbench.sweep.sweep.plan)."""
        return self.root / "plan.json"

    @property
    def tidy(self) -> Path:
        return self.root / "tidy.csv"

    @property
    def tidy_parquet(self) -> Path:
        return self.root / "tidy.parquet"

    @property
    def provenance(self) -> Path:
        """Each point's provenance, one row per point_id (beside tidy.csv, joined on read)."""
        return self.root / "provenance.csv"

    @property
    def provenance_parquet(self) -> Path:
        return self.root / "provenance.parquet"

    @property
    def claims(self) -> Path:
        return self.paper / "claims.csv"

    @property
    def claims_summary(self) -> Path:
        return self.paper / "claims_summary.csv"

    @property
    def report_html(self) -> Path:
        return self.paper / "report.html"

    @property
    def report_md(self) -> Path:
        return self.paper / "report.md"

    def log(self, step: str) -> Path:
        """The log of one analysis step (collect, figure_<stem>, tables, report, cli)."""
        return self.analysis_logs / f"{step}.log"

    def figure(self, stem: str, ext: str) -> Path:
        """A figure file; ext "json" is what the figure shows or why it has nothing to show."""
        return self.figures / f"{stem}.{ext}"

    def table(self, stem: str, ext: str) -> Path:
        return self.paper / f"{stem}.{ext}"

    # what the analysis makes
    def figure_outputs(self, stem: str | None = None) -> list[Path]:
        stems = FIGURES if stem is None else (stem,)
        return [self.figure(s, e) for s in stems for e in ("png", "pdf", "json")]

    def table_outputs(self) -> list[Path]:
        """The tables besides claims.csv (which has its own rule output)."""
        out = [self.table(s, e) for s in TABLES for e in ("csv", "tex")]
        return [self.claims_summary, *(p for p in out if p != self.claims)]

    def all_outputs(self) -> list[Path]:
        return [
            self.tidy,
            self.tidy_parquet,
            self.provenance,
            self.provenance_parquet,
            *self.figure_outputs(),
            self.claims,
            *self.table_outputs(),
            self.report_html,
            self.report_md,
        ]


def analysis_targets(sweep_dir: str | Path) -> list[str]:
    """Every file the analysis makes for one sweep (what the workflow's `rule all` asks for)."""
    return [str(p) for p in SweepLayout(sweep_dir).all_outputs()]


# One-line wrappers kept for the runner and workflow/rules/common.smk.
def sweep_dir(sweep: str) -> Path:
    return SweepLayout.of(sweep).root


def point_dir(sweep: str, point_id: str) -> Path:
    return SweepLayout.of(sweep).point(point_id)


def sweep_logs_dir(sweep: str) -> Path:
    """Logs of a sweep's workflow jobs (one per point, testbed bring-up, ...)."""
    return SweepLayout.of(sweep).logs


def api_dir(name: str | None = None) -> Path:
    """Runtime files of the SSH API deployed for one testbed: PID file, log, database, token."""
    return state_dir() / "api" / (name or testbed_name())
