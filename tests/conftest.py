"""Session-wide fixtures: the CI sweep (experiments/ci.yaml) run once through Snakemake on
a real local testbed, under a test-only testbed name, state and results directory.

Also the suite's two rules:
- A missing prerequisite (root, a JRE, systemd-analyze, ...) goes through `require`: a skip
  on a developer's machine, a failure with CI=true, where everything must be installed
  (`make setup-test`). Under CI any other skip fails too, so a new one cannot slip in.
- Markers `testbed`, `sweep`, `locust`, `slow` and `hostile` are set from the fixtures a
  test uses (FIXTURE_MARKERS); `make test-fast` deselects them (the Makefile's FAST).
  `make pytest` runs the rest after the fast tier: first the tests marked `alone` (they
  measure CPU or time: nothing may run beside them), then the others in two pytest
  processes side by side, `lane_b` and not (each lane has its own session fixtures, so a
  fixture shared by many tests, like `ci_sweep`, keeps its users in one lane).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from sweep.helpers import (
    CAPACITY_SEARCH,
    CAPACITY_SWEEP,
    remove_stale_sweep_testbeds,
    run_snakemake,
    sweep_test_env,
    teardown_in,
)

from sshbench import paths
from sshbench.load import transfer
from sshbench.paths import SweepLayout
from sshbench.testbed import testbed

# A fixture (anywhere in a test's fixture closure) -> the marker the test gets.
FIXTURE_MARKERS = {
    "sweep_env_factory": "sweep",  # every Snakemake run: ci_sweep, capacity, interrupt, ...
    "testbed_env": "testbed",  # tests/testbed: namespaces, cgroups, Ansible
    "vms_env": "testbed",  # tests/vms: the emulated VMs
    "locust_run": "locust",  # tests/sweep/test_loadgen.py (every test there): real Locust runs
    "bench_testbed": "testbed",  # tests/test_benchmarks_smoke.py: a benchmark's own testbed
    # No testbed, but minutes between them: out of `make test-fast` too.
    "benchmark": "slow",  # runs a script of benchmarks/ (tiny counts, still ~20-60 s each)
    # A hostile or overloaded peer: each waits out deadlines (seconds each) with little
    # slack, so these run after the fast tier, one at a time.
    "hostile": "hostile",  # tests/sshapi/test_sshapi_hostile.py: hostile SSH servers
    "memory_cap": "hostile",  # tests/sshapi/conftest.py: the API under a cgroup memory cap
    "silent_dns": "hostile",  # tests/sshapi/test_sshapi_lookups.py: a silent DNS server
}
# Explicit markers that imply one of those.
MARKER_IMPLIES = {"netns": "testbed"}
# The tests that measure, and must run with nothing beside them (`make pytest`'s phase 2):
# the capacity searches and the model's demands (capacity_sweep: CPU per answer, what ran
# out) and Locust's own timing (locust_run: sent within 0.1 s of the schedule).
ALONE = {"capacity_sweep", "locust_run"}
# The rest of the slow tests run in two lanes side by side (phase 3): `lane_b` takes the
# emulated VMs, the testbed's own tests and the hostile peers (and a test marked lane_b
# itself); lane a the sweeps (ci_sweep and its readers, Ctrl-C and secrets, failures) and the
# benchmark scripts. Each lane's tests take about as long as the other's (11-12 min side by
# side here).
LANE_B = {"vms_env", "testbed_env", "hostile", "memory_cap", "silent_dns"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(ok: object, why: str) -> None:
    """A test's prerequisite: without it, skip (a developer's machine) or, with CI=true, fail."""
    if ok:
        return
    if in_ci():
        pytest.fail(
            f"missing prerequisite with CI=true: {why} (make setup-test installs it)",
            pytrace=False,
        )
    pytest.skip(why)


@pytest.fixture(scope="session")
def locust_run() -> None:
    """Names a test that runs real Locust processes (marks it `locust`)."""


@pytest.fixture(scope="session")
def benchmark() -> Path:
    """The benchmarks' folder, for a test that runs one of them (marks the test `slow`)."""
    return Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="session", name="require")
def require_fixture() -> Callable[[object, str], None]:
    """`require(ok, why)` for tests and fixtures outside this file."""
    return require


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = {FIXTURE_MARKERS[f] for f in item.fixturenames if f in FIXTURE_MARKERS}
        names |= {MARKER_IMPLIES[m.name] for m in item.iter_markers() if m.name in MARKER_IMPLIES}
        if ALONE & set(item.fixturenames):
            names.add("alone")
        elif LANE_B & set(item.fixturenames):
            names.add("lane_b")
        for name in sorted(names):
            item.add_marker(name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped with CI=true, where nothing may be missing: {reason}"


@pytest.fixture(scope="session")
def sweep_env_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], dict[str, str]]:
    """Make the environment of a Snakemake run of its own (letter: q, k or b)."""
    require(os.geteuid() == 0, "the sweep needs root (network namespaces, cgroups, useradd)")
    remove_stale_sweep_testbeds()

    def make(letter: str) -> dict[str, str]:
        return sweep_test_env(tmp_path_factory.mktemp(f"sweep-{letter}"), letter)

    return make


@pytest.fixture(scope="session")
def ci_sweep(sweep_env_factory) -> Iterator[Path]:
    """`snakemake --cores 2 --configfile experiments/ci.yaml`, run once per session.

    Returns results/<sweep> of that run. Snakemake's output and exit code are beside it:
    `<results>/snakemake.log` and `<results>/snakemake.rc`. --keep-going, so one failing job
    does not hide the others' results. Also beside it, `<results>/transfer-left.json`: what
    the file transfers left in the bench user's transfer directory once the run ended
    (tests/sweep/test_transfer.py).

    The one shared sweep of the suite: tests/sweep/test_workflow.py, test_transfer.py,
    tests/analysis/test_real_sweep.py, test_figures_real.py, test_latex.py and
    tests/test_report_browser.py all read it (a bigger ci sweep once beats a sweep each).
    """
    env = sweep_env_factory("q")
    results = Path(env["SSHBENCH_RESULTS"])
    home = paths.user_home(testbed.user_name(env["SSHBENCH_TESTBED"]))
    try:
        proc = run_snakemake(
            env, "--cores", "2", "--keep-going", "--configfile", "experiments/ci.yaml", timeout=900
        )
        left = sorted(p.name for p in (home / transfer.ROOT).glob("*"))
        results.mkdir(parents=True, exist_ok=True)
        (results / "snakemake.log").write_text(proc.stdout + proc.stderr)
        (results / "snakemake.rc").write_text(f"{proc.returncode}\n")
        (results / "transfer-left.json").write_text(json.dumps(left))
        yield results / "ci"
    finally:
        teardown_in(env)


@pytest.fixture(scope="session")
def capacity_sweep(sweep_env_factory, tmp_path_factory) -> Path:
    """CAPACITY_SWEEP (tests/sweep/helpers.py) through Snakemake, up to its searches' records
    and its model's validation and section, once per session; returns results/capt."""
    env = sweep_env_factory("c")
    cfg = tmp_path_factory.mktemp("capt") / "capt.yaml"
    cfg.write_text(yaml.safe_dump(CAPACITY_SWEEP))
    layout = SweepLayout(Path(env["SSHBENCH_RESULTS"]) / "capt")
    targets = [str(layout.root / "capacity" / f"{CAPACITY_SEARCH.format(cpus=c)}.json")
               for c in ("0.25", "1")]  # fmt: skip
    targets += [str(layout.model_file("validation.json")), str(layout.model_file("section.md"))]
    try:
        proc = run_snakemake(env, *targets, "--cores", "2", "--configfile", str(cfg), timeout=900)
    finally:
        teardown_in(env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return layout.root
