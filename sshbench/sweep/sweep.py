"""Sweep configs: validate them and expand them into points with readable, stable ids.

A sweep config (experiments/*.yaml, schema in workflow/schemas/config.schema.yaml) names
axes; the points are their cross product, per group, filtered. Everything here is pure: the
Snakefile calls `load` / `resolve` and `expand`, and so do the tests.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from sshbench import paths

SCHEMA_FILE = paths.WORKFLOW_DIR / "schemas" / "config.schema.yaml"


def load_schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_FILE.read_text())


# Axis defaults, read from the schema (the `points` property's own defaults; a group's axes
# fall back to `points`, then to these).
AXIS_DEFAULTS: dict[str, Any] = {
    name: sub["default"]
    for name, sub in load_schema()["properties"]["points"]["properties"].items()
}

# Libraries whose authentication alone can be timed (sshbench.load.authtime; not the `ssh` client).
AUTH_LIBRARIES = ("ssh2", "paramiko", "asyncssh", "ssh-python")
_CONN_SHORT = {"per-request": "perreq", "pooled": "pooled"}
_TCP_SHORT = {"default": "tcpd", "quickack": "tcpq"}
# Seconds a point costs besides its load (Snakemake job, API check, Locust start and drain,
# point.json and its console line), and what a redeployment of the API or an sshd profile
# switch adds. Measured on the 2-core development machine, nothing else running (the quick
# sweep of a clean clone, 2026-12-03 17:16, results/quick: point.json started/ended less
# Locust's wall, and the gaps between points): ~1 s between points plus ~1.3 s of Locust
# start and end, 6.8-8.9 s a deployment, 8-9 s a switch, a capacity step ~3.5 s (its drain
# past saturation included), an auth point's 30 logins ~2 s in all. Used only for planning
# (plan.json, progress, `sweep check`); a busy machine takes longer.
POINT_OVERHEAD_S = 2.5
AUTH_OVERHEAD_S = 0.0  # no API, no Locust: its planned load (AUTH_LOGIN_S each) covers it
TRANSFER_OVERHEAD_S = 3.0  # files made and checked before, the last transfers drained after
REDEPLOY_S = 8.0
SWITCH_S = 7.0
# What a sweep costs besides its points: the testbed brought up (~14 s), the analysis and
# report (~45 s), the teardown (~9 s).
SWEEP_FIXED_S = 70.0
# A capacity search's step: a point's overhead, and a saturated step's drain.
SEARCH_STEP_OVERHEAD_S = 3.5


class ConfigError(ValueError):
    """A sweep config that cannot be run; the message names the field and the reason."""


def _field(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate(config: Mapping[str, Any]) -> None:
    """Check `config` against the schema; raise ConfigError naming the first bad field."""
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(e.path)))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"config field {_field(err.absolute_path)}: {err.message}")


def _fill_defaults(instance: dict[str, Any], schema: Mapping[str, Any]) -> None:
    """Fill `default` values of (nested) object properties, as snakemake.utils.validate does."""
    for name, sub in schema.get("properties", {}).items():
        if "default" in sub and name not in instance:
            instance[name] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(name), dict) and "properties" in sub:
            _fill_defaults(instance[name], sub)


def resolve(config: Mapping[str, Any]) -> dict[str, Any]:
    """Validate, fill defaults, and check what the schema cannot express."""
    config = copy.deepcopy(dict(config))
    schema = load_schema()
    numeric = _numeric_filter_fields(schema)
    for key in ("include", "exclude"):
        if isinstance(config.get(key), list):
            config[key] = [_numbers_in(f, numeric) for f in config[key]]
    validate(config)
    _fill_defaults(config, schema)
    groups = config.get("groups") or {"all": {}}
    for gname, axes in groups.items():
        merged = {**AXIS_DEFAULTS, **config["points"], **axes}
        where = f"groups.{gname}" if "groups" in config else "points"
        if "sustained" in merged["patterns"] and "rates" not in merged:
            raise ConfigError(f"config field {where}.rates: required by the sustained pattern")
        if "burst" in merged["patterns"] and "burst_sizes" not in merged:
            raise ConfigError(f"config field {where}.burst_sizes: required by the burst pattern")
        if "transfer" in merged["patterns"]:
            for axis in ("transfer_sizes_mib", "streams", "directions"):
                if axis not in merged:
                    raise ConfigError(
                        f"config field {where}.{axis}: required by the transfer pattern"
                    )
            if "openssh" in merged["libraries"]:
                raise ConfigError(
                    f"config field {where}.libraries: the transfer pattern uses the Files "
                    "API, which the openssh backend does not serve (501); drop openssh"
                )
        if "auth" in merged["patterns"]:
            if "logins" not in merged:
                raise ConfigError(f"config field {where}.logins: required by the auth pattern")
            untimed = [lib for lib in merged["libraries"] if lib not in AUTH_LIBRARIES]
            if untimed:
                raise ConfigError(
                    f"config field {where}.libraries: the auth pattern times authentication "
                    f"alone, which {', '.join(untimed)} cannot report; use {AUTH_LIBRARIES}"
                )
    cap = config["capacity"]
    if cap["start_rps"] > cap["max_rps"]:
        raise ConfigError("config field capacity.start_rps: larger than capacity.max_rps")
    loadgen = config["loadgen"]
    if loadgen["min_users"] > loadgen["max_users"]:
        raise ConfigError("config field loadgen.min_users: larger than loadgen.max_users")
    return config


def _numeric_filter_fields(schema: Mapping[str, Any]) -> dict[str, type]:
    """The filter fields the schema types as numbers, with the Python type to read them as."""
    kinds = {"integer": int, "number": float}
    fields = schema["$defs"]["filter"]["properties"]
    return {
        name: kinds[alts["oneOf"][0]["type"]]
        for name, alts in fields.items()
        if alts["oneOf"][0]["type"] in kinds
    }


def _numbers_in(flt: Any, numeric: Mapping[str, type]) -> Any:
    """A filter's numeric fields as numbers: Snakemake's ``--config include=[{trial: 0}]``
    reads every value inside a list as a string (YAML's BaseLoader). A string that is not
    such a number stays as it is, for the schema to name."""

    def read(value: Any, kind: type) -> Any:
        try:
            return kind(value) if isinstance(value, str) else value
        except ValueError:
            return value

    if not isinstance(flt, dict):
        return flt
    return {
        k: ([read(x, numeric[k]) for x in v] if isinstance(v, list) else read(v, numeric[k]))
        if k in numeric
        else v
        for k, v in flt.items()
    }


def check(config: Mapping[str, Any]) -> dict[str, Any]:
    """The one checked config loader (Snakemake's common.smk, `sshbench sweep check`,
    progress): `resolve`, then every host against its inventory and every sshd profile the
    points use. ConfigError naming the field on any problem."""
    from sshbench.testbed import testbed  # the inventory and the sshd role's profile keys

    config = resolve(config)
    try:
        inventory = testbed.inventory_path(config["inventory"])
    except testbed.TestbedError as e:
        raise ConfigError(f"config field inventory: {e}") from None
    check_hosts(config, inventory_hosts(inventory))
    for profile, field in used_profiles(config).items():
        try:
            testbed.resolve_profile(profile, config["sshd_profiles"])
        except testbed.TestbedError as e:
            raise ConfigError(f"config field {field}: {e}") from None
    return config


def load(path: str | Path) -> dict[str, Any]:
    """Read a sweep config file and `check` it (ConfigError on any problem)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read sweep config {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"sweep config {path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"sweep config {path}: expected a mapping at the top level")
    return check(raw)


def _num(x: float) -> str:
    """10 -> '10', 2.5 -> '2.5' (ids stay short and stable)."""
    return f"{x:g}"


def search_id(p: Mapping[str, Any]) -> str:
    """Id of a capacity search: cap-taco-c2-uptime-tuned-ssh2-perreq-tcpd-t0."""
    parts = point_id({**p, "pattern": "sustained", "rps": 0}).split("-")
    return "-".join(["cap", *parts[1:-2], parts[-1]])


def point_id(p: Mapping[str, Any]) -> str:
    """Readable, deterministic id: r10-taco-c2-uptime-default-ssh2-perreq-tcpd-sustained-t0.

    A transfer point's load is its direction, size and streams: d16mx4 (4 concurrent
    downloads of 16 MiB), u1mx1; its command is `files`."""
    if p["pattern"] == "transfer":
        load = f"{p['direction'][0]}{_num(p['transfer_size_mib'])}mx{p['streams']}"
    elif p["pattern"] == "auth":
        load = f"a{p['logins']}"
    else:
        load = f"r{_num(p['rps'])}" if p["pattern"] == "sustained" else f"n{p['burst_size']}"
    return "-".join(
        [
            load,
            p["host"],
            f"c{_num(p['host_cpus'])}",
            p["command"],
            p["profile"],
            p["library"],
            _CONN_SHORT[p["connections"]],
            _TCP_SHORT[p["client_tcp"]],
            p["pattern"],
            f"t{p['trial']}",
        ]
    )


def _group_points(axes: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    for pattern in axes["patterns"]:
        loads = {
            "sustained": axes.get("rates"),
            "burst": axes.get("burst_sizes"),
            "auth": axes.get("logins"),
        }.get(pattern)
        if pattern == "transfer":  # (direction, size, streams); the command is `files`
            loads = list(
                itertools.product(axes["directions"], axes["transfer_sizes_mib"], axes["streams"])
            )
        loads = loads or [None]  # a capacity search finds its own rates
        commands = ["files"] if pattern == "transfer" else axes["commands"]
        for host, cpus, tcp, command, profile, library, conn, load, trial in itertools.product(
            axes["hosts"],
            axes["host_cpus"],
            axes["client_tcp"],
            commands,
            axes["profiles"],
            axes["libraries"],
            axes["connections"],
            loads,
            range(axes["trials"]),
        ):
            # a search's steps are sustained; a transfer point runs for a duration too
            sustained = pattern in ("sustained", "capacity", "transfer")
            point = {
                "rps": load if pattern == "sustained" else None,
                "host": host,
                "host_cpus": cpus,
                "client_tcp": tcp,
                "command": command,
                "profile": profile,
                "library": library,
                "connections": conn,
                "pattern": pattern,
                "duration_s": axes["duration_s"] if sustained else None,
                "warmup_s": axes["warmup_s"] if sustained else 0,
                "trial": trial,
                "seed": axes["seed"],
                "burst_size": load if pattern == "burst" else None,
                "logins": load if pattern == "auth" else None,
            }
            if pattern == "transfer":
                point["direction"], point["transfer_size_mib"], point["streams"] = load
            yield point


def _matches(p: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    for key, want in flt.items():
        wants = want if isinstance(want, list) else [want]
        if p.get(key) not in wants:
            return False
    return True


def deployment(p: Mapping[str, Any]) -> tuple[str, str] | None:
    """What the SSH API is deployed as for a point: one deployment per library and mode
    (None: an auth point, which times the library alone and needs no API)."""
    if p["pattern"] == "auth":
        return None
    return (p["library"], p["connections"])


def _block_key(p: Mapping[str, Any]) -> tuple[str, str]:
    """A point's place within a profile block: its library and connection mode (an auth
    point with its library's per-request points, though it needs no API)."""
    return (p["library"], p["connections"])


def _deployed_after(
    keys: list[tuple[str, str]], ids: Mapping[tuple[str, str], list[str]], points, before
):
    """The deployment in force after points of `keys` ran in that order (from `before`)."""
    for key in keys:
        for pid in ids[key]:
            if deployment(points[pid]) is not None:
                before = deployment(points[pid])
    return before


def _chained(shuffled: Mapping[int, list[str]], first: list[str]) -> list[tuple[int, str]]:
    """(trial, profile) blocks: round 0 in the order `first`, each later round in its
    shuffled order but starting with the profile the round before ended with."""
    out: list[tuple[int, str]] = []
    last: str | None = None
    for n, trial in enumerate(sorted(shuffled)):
        profiles = list(first) if n == 0 else list(shuffled[trial])
        if last in profiles:  # carry on with the profile in force: no switch here
            profiles.remove(last)
            profiles.insert(0, last)
        out += [(trial, profile) for profile in profiles]
        last = profiles[-1]
    return out


def _profile_chains(shuffled: Mapping[int, list[str]]) -> list[list[tuple[int, str]]]:
    """Candidate profile block orders (see `run_order`): round 0 in its seeded order, then
    each rotation of it (the same alternation, starting elsewhere)."""
    first = shuffled[min(shuffled)]
    return [_chained(shuffled, first[k:] + first[:k]) for k in range(len(first))]


def _changes(order: list[str], points: Mapping[str, Mapping[str, Any]], then) -> float:
    """Planned seconds of the API deployments and sshd switches an order (then `then`) needs."""
    deployed, profile, cost = None, None, 0.0
    for p in [*(points[pid] for pid in order), *([then] if then else [])]:
        want = deployment(p)
        if want is not None and want != deployed:
            cost += REDEPLOY_S
            deployed = want
        if profile is not None and p["profile"] != profile:
            cost += SWITCH_S
        profile = p["profile"]
    return cost


def _arrange(
    chain: list[tuple[int, str]],
    rounds: Mapping[int, Mapping[str, list[str]]],
    points: Mapping[str, Mapping[str, Any]],
    rng: random.Random,
    then: Mapping[str, Any] | None,
) -> list[str]:
    """The points in run order for one chain of profile blocks (see `run_order`): within a
    block the deployments in a seeded order, the one in force first, one the next block
    wants last; each deployment's points shuffled."""
    blocks: list[dict[tuple[str, str], list[str]]] = []
    for trial, profile in chain:
        block: dict[tuple[str, str], list[str]] = {}
        for pid in rounds[trial][profile]:
            block.setdefault(_block_key(points[pid]), []).append(pid)
        for key in sorted(block):
            rng.shuffle(block[key])
        blocks.append(block)
    order: list[str] = []
    deployed: tuple[str, str] | None = None
    for i, block in enumerate(blocks):
        keys = sorted(block)
        rng.shuffle(keys)
        api_keys = [k for k in keys if any(deployment(points[p]) for p in block[k])]
        candidates = api_keys  # which of them may end the block
        if deployed in api_keys:  # keep the API in force: no redeploy at the block's start
            keys.remove(deployed)
            keys.insert(0, deployed)
            candidates = [k for k in api_keys if k != deployed] or api_keys
        if i + 1 < len(blocks):
            wanted = {deployment(points[p]) for ids in blocks[i + 1].values() for p in ids}
        else:
            wanted = {deployment(then)} if then else set()
        # end with a deployment the next block has: it starts there without a redeploy
        for key in reversed(candidates):
            if key in wanted:
                keys.remove(key)
                keys.append(key)
                break
        for key in keys:
            order.extend(block[key])
        deployed = _deployed_after(keys, block, points, deployed)
    return order


def run_order(
    points: Mapping[str, Mapping[str, Any]],
    seed: int,
    then: Mapping[str, Any] | None = None,
) -> list[str]:
    """The order the points run in: seeded, interleaved, with few sshd switches and few API
    deployments.

    Trial round after trial round (trial 0 of every configuration, then trial 1, ...), so
    the sshd profile is not confounded with time: every round holds a block of each profile.
    The profile blocks alternate: round 0 takes the profiles in a seeded order, each later
    round starts with the profile the round before ended with (a switch reloads sshd;
    NOTES: never under load), so two profiles cost one switch per round (A B | B A | A B).
    Within a block, the API deployments (library x connection mode) in a seeded random
    order, each deployment's points (host, CPUs, TCP mode, command, rate) shuffled too. So
    every round visits every profile and library in a new order, and drift over a long
    sweep cannot line up with a profile, a library, a mode or a host.

    Deployments are chained like the profiles: a block starts with the deployment the block
    before left in force (when it has one), and ends, when it can, with one the next block
    (or `then`, the point or search that runs after the last block) starts with, so the API
    is redeployed only where the library or mode really changes. Auth points need no API
    (they run with their library's per-request block and never change the deployment).
    Round 0's seeded profile order may be rotated (the same alternation, starting with
    another profile) when that needs fewer planned deployments and switches, say to end
    with the capacity search's profile."""
    rng = random.Random(seed)
    rounds: dict[int, dict[str, list[str]]] = {}
    for pid, p in sorted(points.items()):
        rounds.setdefault(p["trial"], {}).setdefault(p["profile"], []).append(pid)
    shuffled = {}
    for trial in sorted(rounds):
        shuffled[trial] = sorted(rounds[trial])
        rng.shuffle(shuffled[trial])
    state = rng.getstate()

    orders = []
    for chain in _profile_chains(shuffled):
        rng.setstate(state)  # every candidate shuffles the same way
        orders.append(_arrange(chain, rounds, points, rng, then))
    # the candidate that needs the fewest planned deployments and switches (ties: the first)
    return min(orders, key=lambda order: _changes(order, points, then))


def expand(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """All points of a resolved config, as {point id: params}, in run order (capacity
    searches are not points: see `searches`).

    Two groups may name the same point (same parameters): it runs once. The same id with
    different parameters (say another duration) is a ConfigError.
    """
    every = _expand_all(config)
    points = {pid: p for pid, p in every.items() if p["pattern"] != "capacity"}
    if not points:
        return {}
    seed = int(config["points"].get("seed", AXIS_DEFAULTS["seed"]))
    found = sorted(pid for pid, p in every.items() if p["pattern"] == "capacity")
    then = every[found[0]] if found else None  # the first search runs after the points
    return {pid: points[pid] for pid in run_order(points, seed, then)}


def searches(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The capacity searches of a resolved config, as {search id: params}, sorted by id."""
    found = {pid: p for pid, p in _expand_all(config).items() if p["pattern"] == "capacity"}
    return dict(sorted(found.items()))


def _expand_all(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    groups = config.get("groups") or {"all": {}}
    points: dict[str, dict[str, Any]] = {}
    for gname, axes in groups.items():
        merged = {**AXIS_DEFAULTS, **config["points"], **axes}
        for p in _group_points(merged):
            if config.get("include") and not any(_matches(p, f) for f in config["include"]):
                continue
            if any(_matches(p, f) for f in config.get("exclude", [])):
                continue
            pid = search_id(p) if p["pattern"] == "capacity" else point_id(p)
            if pid in points and points[pid] != p:
                raise ConfigError(
                    f"config field groups.{gname}: point {pid} is also in another group with "
                    "different parameters (duration_s, warmup_s or seed); make them equal"
                )
            points[pid] = p
    if not points:
        raise ConfigError("config field include/exclude: the filters leave no point to run")
    return points


def priorities(points: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Snakemake priorities (higher runs first) that follow the points' order (`expand`)."""
    n = len(points)
    return {pid: n - i for i, pid in enumerate(points)}


def load_seconds(p: Mapping[str, Any]) -> float:
    """Seconds of load of one point (warm-up + measured window; a burst: about one)."""
    if p["pattern"] == "burst":
        return 1.0
    if p["pattern"] == "auth":
        return AUTH_LOGIN_S * p["logins"]
    return float((p["warmup_s"] or 0) + (p["duration_s"] or 0))


# Seconds of one login of an auth point (connect, key exchange, auth, close), for planning.
AUTH_LOGIN_S = 0.1
# A capacity search's steps, for planning: it grows by `growth` then bisects; about 6 steps
# on this machine (the real count is in results/<sweep>/capacity/<search>.json).
SEARCH_STEPS_ESTIMATE = 6


def plan(
    config: Mapping[str, Any],
    points: Mapping[str, Mapping[str, Any]],
    searches: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The sweep's plan (results/<sweep>/plan.json): points in run order, then the capacity
    searches, each with its sshd profile and trial (the run order log), its load and an
    estimate of its other costs (a redeploy or a profile switch before it)."""
    rows = []
    prev: Mapping[str, Any] | None = None
    deployed: tuple[str, str] | None = None  # the API deployment in place (auth points use none)
    steps = min(SEARCH_STEPS_ESTIMATE, int((config.get("capacity") or {}).get("max_steps", 10)))
    for i, (pid, p) in enumerate({**points, **(searches or {})}.items()):
        each = {"auth": AUTH_OVERHEAD_S, "transfer": TRANSFER_OVERHEAD_S}.get(
            p["pattern"], POINT_OVERHEAD_S
        )
        redeploy = deployment(p) is not None and deployed != deployment(p)
        if redeploy:
            deployed = deployment(p)
        # the testbed comes up with the first point's profile (FIRST_PROFILE): no switch
        switch = prev is not None and prev["profile"] != p["profile"]
        n = steps if p["pattern"] == "capacity" else 1
        if p["pattern"] == "capacity":
            each = SEARCH_STEP_OVERHEAD_S
        rows.append(
            {
                "id": pid,
                "kind": "search" if p["pattern"] == "capacity" else "point",
                "order": i,
                "profile": p["profile"],
                "trial": p["trial"],
                "deploy": redeploy,
                "switch": switch,
                "load_s": n * load_seconds(p),
                "overhead_s": n * each + REDEPLOY_S * redeploy + SWITCH_S * switch,
            }
        )
        prev = p
    return {
        "sweep": config["sweep"],
        "seed": int(config["points"].get("seed", AXIS_DEFAULTS["seed"])),
        "points": rows,
    }


# Sweep-wide settings every point runs with besides its own parameters. They are part of
# each point's Snakemake params, so changing one reruns the points; never a timestamp here.
RUN_SETTING_KEYS = (
    "inventory",
    "ls_path",
    "api",
    "loadgen",
    "saturation",
    "capacity",
    "sshd_profiles",
)


def run_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(config[k]) for k in RUN_SETTING_KEYS if k in config}


def users_for(params: Mapping[str, Any], loadgen: Mapping[str, Any]) -> int:
    """Locust users for a point: enough that slots are not missed while responses are slow."""
    if params["pattern"] == "burst":
        return int(params["burst_size"])
    if params["pattern"] == "transfer":
        return int(params["streams"])
    users = math.ceil(params["rps"] * loadgen["users_per_rps"])
    return max(loadgen["min_users"], min(loadgen["max_users"], users))


def write_plan(path: Path, plan_: Mapping[str, Any]) -> None:
    """Write plan.json (atomically), leaving the file alone when it already says the same."""
    text = json.dumps(plan_, indent=1) + "\n"
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def cost(
    points: Mapping[str, Mapping[str, Any]],
    searches: Mapping[str, Mapping[str, Any]] | None = None,
    config: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Load seconds of a sweep and an estimate of its wall clock, for planning."""
    rows = plan({"sweep": "", "points": {}, **(config or {})}, points, searches)["points"]
    return {
        "points": len(points),
        "searches": len(searches or {}),
        "deploys": sum(r["deploy"] for r in rows),
        "switches": sum(r["switch"] for r in rows),
        "load_seconds": sum(r["load_s"] for r in rows),
        "estimated_seconds": SWEEP_FIXED_S + sum(r["load_s"] + r["overhead_s"] for r in rows),
    }


def inventory_hosts(inventory_dir: Path, group: str = "testbed") -> set[str] | None:
    """Host names in ``group`` of a YAML inventory directory (None: unknown or none)."""
    found: set[str] = set()

    def walk(node: Any, in_testbed: bool) -> None:
        if not isinstance(node, dict):
            return
        for key, val in node.items():
            if key == "hosts" and in_testbed and isinstance(val, dict):
                found.update(val)
            elif key == "children" and isinstance(val, dict):
                for child, sub in val.items():
                    walk(sub, in_testbed or child == group)
            elif isinstance(val, dict) and key not in ("vars",):
                walk(val, in_testbed)

    if not inventory_dir.is_dir():
        return None
    for f in sorted(inventory_dir.glob("*.y*ml")):
        walk(yaml.safe_load(f.read_text()) or {}, False)
    return found or None


def check_hosts(config: Mapping[str, Any], known: set[str] | None) -> None:
    """Every host a sweep names must be in its inventory's testbed group."""
    if known is None:
        return
    groups = config.get("groups") or {"all": {}}
    for gname, axes in groups.items():
        hosts = axes.get("hosts", config["points"]["hosts"])
        where = f"groups.{gname}.hosts" if "hosts" in axes else "points.hosts"
        for h in hosts:
            if h not in known:
                raise ConfigError(
                    f"config field {where}: host {h!r} is not in inventory "
                    f"{config['inventory']!r} (it has {sorted(known)})"
                )


def used_profiles(config: Mapping[str, Any]) -> dict[str, str]:
    """sshd profile name -> the config field that names it first."""
    out: dict[str, str] = {}
    groups = config.get("groups") or {"all": {}}
    for gname, axes in groups.items():
        where = f"groups.{gname}.profiles" if "profiles" in axes else "points.profiles"
        for p in axes.get("profiles", config["points"]["profiles"]):
            out.setdefault(p, where)
    return out
