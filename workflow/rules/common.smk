# Config validation and sweep expansion. Everything with logic lives in tested Python
# (sshbench.sweep); this file only calls it and names what the rules need.
import copy

from snakemake.exceptions import WorkflowError

from measure.point import POINT_FILE
from sshbench import paths
from sshbench.sweep import ctrl_c
from sshbench.sweep import point as sb_point
from sshbench.sweep import sweep as sb_sweep

# Snakemake's log handler drops a Ctrl-C that lands while it writes a line; this one defers it
# until the line is written (sshbench.sweep.ctrl_c).
ctrl_c.install()

# A --configfile replaces the default sweep instead of being deep-merged into it (the
# default's groups would otherwise leak into every other sweep).
if workflow.overwrite_configfiles:
    _given = copy.deepcopy(workflow.config_settings.overwrite_config)
    config.clear()
    config.update(_given)

# Validate before anything runs: a bad config names its field, and nothing is provisioned.
# The same checked loader as `sshbench sweep check` (sshbench.sweep.sweep.check).
try:
    SWEEP = sb_sweep.check(config)
    POINTS = sb_sweep.expand(SWEEP)
    SEARCHES = sb_sweep.searches(SWEEP)
except sb_sweep.ConfigError as _e:
    raise WorkflowError(f"bad sweep config: {_e}") from None

SWEEP_NAME = SWEEP["sweep"]
PRIORITY = sb_sweep.priorities(POINTS)
LAYOUT_OF_SWEEP = paths.SweepLayout.of(SWEEP_NAME)
POINTS_DIR = str(LAYOUT_OF_SWEEP.points)
LOGS_DIR = str(LAYOUT_OF_SWEEP.logs)
TESTBED_FLAG = str(LAYOUT_OF_SWEEP.flags / "testbed_up.flag")
CAPACITY_DIR = str(LAYOUT_OF_SWEEP.capacity)
PLAN_JSON = str(LAYOUT_OF_SWEEP.plan)
PLAN = sb_sweep.plan(SWEEP, POINTS, SEARCHES)
# The run order, for the record and for each point's progress line. Written here, not by a
# rule: a plan job would hold back every point whenever the order changes.
sb_sweep.write_plan(LAYOUT_OF_SWEEP.plan, PLAN)
ANALYSIS_SWEEP_DIR = str(LAYOUT_OF_SWEEP.root)
# What every point runs with besides its own parameters (part of each point's params, so
# changing any of it reruns the points; nothing here is a timestamp or a run id).
RUN_SETTINGS = sb_sweep.run_settings(SWEEP)
FIRST_PROFILE = next(iter({**POINTS, **SEARCHES}.values()))["profile"]

# Points never overlap on a testbed (override with --resources testbed=N only if you have N).
if "testbed" not in workflow.global_resources:
    workflow.register_resource("testbed", 1)


def point_json_files():
    """Every point.json of the sweep (also the analysis rules' input)."""
    return [f"{POINTS_DIR}/{pid}/{POINT_FILE}" for pid in POINTS]


def capacity_files():
    """Every capacity search's record (its steps are point directories of their own)."""
    return [f"{CAPACITY_DIR}/{sid}.json" for sid in SEARCHES]


def search_params(wildcards):
    return SEARCHES[wildcards.search]


def point_params(wildcards):
    return POINTS[wildcards.point]


def point_priority(wildcards):
    """Higher runs first: points sharing a profile and an API deployment run together."""
    return PRIORITY[wildcards.point]


def teardown_after_sweep():
    """onsuccess / onerror: stop the API and take the testbed down; never raises."""
    try:
        sb_point.teardown(log=lambda msg: print(f"teardown: {msg}", flush=True))
    except Exception as e:
        print(f"teardown: {e}; run `snakemake teardown` to retry", flush=True)
