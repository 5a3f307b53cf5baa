"""Sweep configs: validation messages, expansion, ids, order (pure Python, fast)."""

from __future__ import annotations

import copy
import itertools

import pytest
import yaml

from sshbench import paths
from sshbench.sweep import sweep

BASE = {
    "sweep": "t",
    "points": {
        "hosts": ["taco", "jetstream"],
        "profiles": ["default", "tuned"],
        "libraries": ["ssh2", "paramiko"],
        "connections": ["per-request"],
        "commands": ["uptime", "ls"],
        "rates": [10, 50],
        "trials": 3,
    },
}


def cfg(**overrides):
    c = copy.deepcopy(BASE)
    for key, val in overrides.items():
        if key in c["points"] or key in (
            "patterns",
            "burst_sizes",
            "logins",
            "duration_s",
            "warmup_s",
        ):
            c["points"][key] = val
        else:
            c[key] = val
    return sweep.resolve(c)


def test_cross_product_size_and_fields():
    points = sweep.expand(cfg())
    assert len(points) == 2 * 2 * 2 * 2 * 2 * 3
    p = points["r10-taco-c2-uptime-default-ssh2-perreq-tcpd-sustained-t0"]
    assert p == {
        "rps": 10,
        "host": "taco",
        "host_cpus": 2,
        "client_tcp": "default",
        "command": "uptime",
        "profile": "default",
        "library": "ssh2",
        "connections": "per-request",
        "pattern": "sustained",
        "duration_s": 20,
        "warmup_s": 5,
        "trial": 0,
        "seed": 1,
        "burst_size": None,
        "logins": None,
    }


def test_ids_are_deterministic_and_unique():
    a, b = sweep.expand(cfg()), sweep.expand(cfg())
    assert list(a) == list(b)
    assert all(sweep.point_id(p) == pid for pid, p in a.items())
    assert len(set(a)) == len(a)


def test_id_format_for_rates_and_bursts():
    p = {**sweep.expand(cfg())["r50-jetstream-c2-ls-tuned-paramiko-perreq-tcpd-sustained-t2"]}
    p.update(rps=2.5, connections="pooled", host_cpus=0.25, client_tcp="quickack")
    assert sweep.point_id(p) == "r2.5-jetstream-c0.25-ls-tuned-paramiko-pooled-tcpq-sustained-t2"
    bursts = sweep.expand(cfg(patterns=["burst"], burst_sizes=[60], trials=1))
    assert "n60-taco-c2-uptime-tuned-ssh2-perreq-tcpd-burst-t0" in bursts
    b = bursts["n60-taco-c2-uptime-tuned-ssh2-perreq-tcpd-burst-t0"]
    assert b["rps"] is None and b["burst_size"] == 60 and b["duration_s"] is None
    auth = sweep.expand(cfg(patterns=["auth"], logins=[30], trials=1))
    a = auth["a30-taco-c2-uptime-tuned-ssh2-perreq-tcpd-auth-t0"]
    assert a["logins"] == 30 and a["rps"] is None and a["burst_size"] is None


def test_changing_one_rate_changes_only_those_points():
    before = sweep.expand(cfg())
    after = sweep.expand(cfg(rates=[10, 60]))
    same = {k for k in before if k in after and before[k] == after[k]}
    assert same == {k for k in before if before[k]["rps"] == 10}
    assert all(after[k]["rps"] == 60 for k in set(after) - same)


def test_order_interleaves_profiles_per_trial_round_with_one_switch_per_round():
    points = sweep.expand(cfg())
    ps = list(points.values())
    # trial rounds: trial 0 of every configuration before any trial 1
    trials = [p["trial"] for p in ps]
    assert trials == sorted(trials)
    # every round holds a block of each profile: the profile is not confounded with time
    blocks = [
        (p["trial"], p["profile"])
        for i, p in enumerate(ps)
        if i == 0 or (ps[i - 1]["trial"], ps[i - 1]["profile"]) != (p["trial"], p["profile"])
    ]
    assert len(blocks) == 3 * 2
    assert all({prof for t, prof in blocks if t == r} == {"default", "tuned"} for r in range(3))
    # the blocks alternate (A B | B A | A B): one sshd switch per round, no more
    profiles = [p["profile"] for p in ps]
    switches = sum(a != b for a, b in itertools.pairwise(profiles))
    assert switches == 3
    # the plan says each point's profile and trial (the run order log)
    plan = sweep.plan(cfg(), points)
    assert [(r["profile"], r["trial"]) for r in plan["points"]] == [
        (p["profile"], p["trial"]) for p in ps
    ]
    # the libraries' order differs between rounds somewhere (interleaved, not in blocks)
    rounds = {(p["profile"], p["trial"]): [] for p in ps}  # first library seen in each block
    for p in ps:
        r = rounds[(p["profile"], p["trial"])]
        if p["library"] not in r:
            r.append(p["library"])
    assert len({tuple(r) for r in rounds.values()}) > 1
    # seeded: the same seed gives the same order, another seed another order
    assert list(sweep.expand(cfg())) == list(points)
    other = copy.deepcopy(BASE)
    other["points"]["seed"] = 7
    assert list(sweep.expand(sweep.resolve(other))) != list(points)
    prio = sweep.priorities(points)
    assert sorted(prio, key=prio.get, reverse=True) == list(points)


def test_plan_lists_every_point_in_run_order_with_its_costs():
    c = cfg()
    points = sweep.expand(c)
    plan = sweep.plan(c, points)
    assert [r["id"] for r in plan["points"]] == list(points)
    assert all(
        r["load_s"] == 25 and r["overhead_s"] >= sweep.POINT_OVERHEAD_S for r in plan["points"]
    )
    cost = sweep.cost(points)
    assert cost["load_seconds"] == 25 * len(points) < cost["estimated_seconds"]


def test_capacity_searches_are_not_points():
    c = copy.deepcopy(BASE)
    c["groups"] = {"plain": {}, "cap": {"patterns": ["capacity"], "trials": 1, "rates": [1]}}
    r = sweep.resolve(c)
    found = sweep.searches(r)
    assert "cap-taco-c2-uptime-default-ssh2-perreq-tcpd-t0" in found
    assert all(p["pattern"] == "capacity" and p["rps"] is None for p in found.values())
    assert not any(p["pattern"] == "capacity" for p in sweep.expand(r).values())


def test_bad_capacity_bounds_name_the_field():
    c = copy.deepcopy(BASE)
    c["capacity"] = {"start_rps": 500, "max_rps": 100}
    with pytest.raises(sweep.ConfigError, match=r"config field capacity\.start_rps"):
        sweep.resolve(c)
    c["capacity"] = {"resolution": 0}
    with pytest.raises(sweep.ConfigError, match=r"config field capacity\.resolution"):
        sweep.resolve(c)


def test_groups_union_dedupe_and_filters():
    c = copy.deepcopy(BASE)
    c["points"].update(hosts=["taco"], profiles=["tuned"], libraries=["ssh2"], trials=1)
    c["groups"] = {
        "load": {"rates": [10, 50, 90], "commands": ["uptime"]},
        "avg": {"rates": [10], "commands": ["uptime", "ls"]},
    }
    c["exclude"] = [{"rps": 90, "command": "uptime"}]
    points = sweep.expand(sweep.resolve(c))
    assert sorted(points) == sorted(
        [
            "r10-taco-c2-uptime-tuned-ssh2-perreq-tcpd-sustained-t0",
            "r50-taco-c2-uptime-tuned-ssh2-perreq-tcpd-sustained-t0",
            "r10-taco-c2-ls-tuned-ssh2-perreq-tcpd-sustained-t0",
        ]
    )
    c["include"] = [{"command": "ls"}]
    assert list(sweep.expand(sweep.resolve(c))) == [
        "r10-taco-c2-ls-tuned-ssh2-perreq-tcpd-sustained-t0"
    ]


def test_filters_from_snakemakes_command_line_match_numbers():
    """`--config include=[{rps: 10, host_cpus: 2}]` reaches the config as strings (Snakemake
    reads values inside a list with YAML's BaseLoader); they still match."""
    from snakemake.cli import parse_config

    c = copy.deepcopy(BASE)
    c.update(parse_config(["include=[{rps: 10, command: [ls], host_cpus: 2}]"]))
    assert c["include"] == [{"rps": "10", "command": ["ls"], "host_cpus": "2"}]
    kept = sweep.expand(sweep.resolve(c))
    assert kept and len(kept) < len(sweep.expand(sweep.resolve(BASE)))
    assert {(p["rps"], p["command"], p["host_cpus"]) for p in kept.values()} == {(10, "ls", 2)}
    c.update(parse_config(["include=[{rps: ten}]"]))
    with pytest.raises(sweep.ConfigError, match=r"include\[0\]\.rps"):
        sweep.resolve(c)


def test_same_id_with_other_parameters_is_refused():
    c = copy.deepcopy(BASE)
    c["groups"] = {"a": {"duration_s": 10}, "b": {"duration_s": 30}}
    with pytest.raises(sweep.ConfigError, match=r"groups\.b.*duration_s"):
        sweep.expand(sweep.resolve(c))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c["points"].update(rates=["fast"]), "points.rates[0]"),
        (lambda c: c["points"].update(rates=[-5]), "points.rates[0]"),
        (lambda c: c["points"].update(libraries=["libssh"]), "points.libraries[0]"),
        (lambda c: c["points"].update(connections=["keepalive"]), "points.connections[0]"),
        (lambda c: c["points"].update(commands=["rm"]), "points.commands[0]"),
        (lambda c: c["points"].update(trials=0), "points.trials"),
        (lambda c: c["points"].update(hosts=["Bad-Name"]), "points.hosts[0]"),
        (lambda c: c["points"].pop("hosts"), "points"),
        (lambda c: c.update(sweep="has space"), "sweep"),
        (lambda c: c.update(loadgen={"processes": 0}), "loadgen.processes"),
        (lambda c: c.update(api={"threads": "many"}), "api.threads"),
        (lambda c: c.update(typo_field=1), "(top level)"),
        (lambda c: c.update(api={"mode": "service"}), "api"),
        (lambda c: c.update(api={"mode": "service", "port": 0}), "api.port"),
        (lambda c: c.update(groups={"g": {"rate": [1]}}), "groups.g"),
    ],
)
def test_bad_config_names_the_field(mutate, field):
    c = copy.deepcopy(BASE)
    mutate(c)
    with pytest.raises(sweep.ConfigError) as err:
        sweep.resolve(c)
    msg = str(err.value)
    assert msg.startswith(f"config field {field}:"), msg
    assert "\n" not in msg


def test_patterns_need_their_axis():
    c = copy.deepcopy(BASE)
    c["points"].pop("rates")
    with pytest.raises(sweep.ConfigError, match=r"points\.rates: required by the sustained"):
        sweep.resolve(c)
    c = copy.deepcopy(BASE)
    c["points"]["patterns"] = ["burst"]
    with pytest.raises(sweep.ConfigError, match=r"points\.burst_sizes: required by the burst"):
        sweep.resolve(c)
    c["points"]["patterns"] = ["auth"]
    with pytest.raises(sweep.ConfigError, match=r"points\.logins: required by the auth"):
        sweep.resolve(c)
    c["points"].update(logins=[10], libraries=["ssh2", "openssh"])
    with pytest.raises(sweep.ConfigError, match=r"points\.libraries: .* which openssh cannot"):
        sweep.resolve(c)


def test_filters_that_leave_nothing_are_refused():
    c = copy.deepcopy(BASE)
    c["include"] = [{"host": "nowhere"}]
    with pytest.raises(sweep.ConfigError, match="no point"):
        sweep.expand(sweep.resolve(c))


def test_users_follow_rate_within_bounds():
    lg = cfg()["loadgen"]
    p = {"pattern": "sustained", "rps": 10, "burst_size": None}
    assert sweep.users_for(p, lg) == max(lg["min_users"], 10 * lg["users_per_rps"])
    assert sweep.users_for({**p, "rps": 100000}, lg) == lg["max_users"]
    assert sweep.users_for({**p, "rps": 0.1}, lg) == lg["min_users"]
    assert sweep.users_for({"pattern": "burst", "rps": None, "burst_size": 60}, lg) == 60


def test_hosts_are_checked_against_the_inventory():
    known = sweep.inventory_hosts(paths.INVENTORIES_DIR / "local")
    assert known == {"taco", "jetstream"}
    c = copy.deepcopy(BASE)
    c["groups"] = {"x": {"hosts": ["nohost"]}}
    with pytest.raises(sweep.ConfigError, match=r"groups\.x\.hosts: host 'nohost'"):
        sweep.check_hosts(sweep.resolve(c), known)


@pytest.mark.parametrize("name", ["ci", "quick", "paper"])
def test_shipped_configs_are_valid(name):
    c = sweep.load(paths.EXPERIMENTS_DIR / f"{name}.yaml")
    assert c["sweep"] == name
    sweep.check_hosts(c, sweep.inventory_hosts(paths.INVENTORIES_DIR / c["inventory"]))
    points = sweep.expand(c)
    assert points
    raw = yaml.safe_load((paths.EXPERIMENTS_DIR / f"{name}.yaml").read_text())
    assert raw["sweep"] == name


def test_paper_sweep_has_the_studys_axes():
    points = sweep.expand(sweep.load(paths.EXPERIMENTS_DIR / "paper.yaml")).values()
    rates = {p["rps"] for p in points if p["pattern"] == "sustained"}
    assert {10, 50, 60, 90, 100, 500} <= rates
    assert {p["host"] for p in points} == {"taco", "jetstream"}
    assert {p["library"] for p in points} == {
        "ssh2",
        "paramiko",
        "openssh",
        "asyncssh",
        "ssh-python",
    }
    assert {p["profile"] for p in points} == {"default", "tuned"}
    avg = [p for p in points if p["rps"] == 500 and p["command"] == "ls"]
    assert {p["trial"] for p in avg} == set(range(10))


def test_load_reports_unreadable_files(tmp_path):
    with pytest.raises(sweep.ConfigError, match="cannot read"):
        sweep.load(tmp_path / "missing.yaml")
    (tmp_path / "x.yaml").write_text("- a list\n")
    with pytest.raises(sweep.ConfigError, match="mapping"):
        sweep.load(tmp_path / "x.yaml")


def test_sweep_list_one_group_as_snakemake_targets(capsys, tmp_path, monkeypatch):
    from sshbench import cli

    monkeypatch.setenv("SSHBENCH_RESULTS", str(tmp_path))
    quick = str(paths.EXPERIMENTS_DIR / "quick.yaml")
    assert cli.main(["sweep", "list", quick, "--group", "capacity", "--targets"]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(tmp_path / "quick" / "capacity" / f"{sid}.json")
                   for sid in sweep.searches(sweep.load(quick))]  # fmt: skip
    assert cli.main(["sweep", "list", quick, "--group", "loadtest", "--targets"]) == 0
    out = capsys.readouterr().out.split()
    assert len(out) == 3 and all(p.endswith("/point.json") for p in out)  # 10 RPS x 3 trials
    assert cli.main(["sweep", "list", quick, "--group", "nope"]) == 1
    assert "no group 'nope' in sweep 'quick'" in capsys.readouterr().err


def _blocks(points):
    """The (trial, profile) blocks of a run order, each a list of its points' params."""
    out: list[list[dict]] = []
    for p in points.values():
        if not out or (out[-1][0]["trial"], out[-1][0]["profile"]) != (p["trial"], p["profile"]):
            out.append([])
        out[-1].append(p)
    return out


def _replay(points, then=None):
    """The deployments a runner makes, point by point (auth points need no API)."""
    deployed, made = None, []
    for p in [*points.values(), *([then] if then else [])]:
        want = sweep.deployment(p)
        made.append(want is not None and want != deployed)
        deployed = want or deployed
    return made


def _grouped(groups, **points):
    c = copy.deepcopy(BASE)
    c["points"].update(points)
    return sweep.resolve({**c, "groups": groups})


@pytest.mark.parametrize("seed", [1, 2, 3, 7, 11])
def test_each_deployment_is_made_once_per_block_and_carried_across_blocks(seed):
    c = _grouped(
        {"all": {}, "auth": {"patterns": ["auth"], "logins": [5], "connections": ["per-request"]}},
        connections=["per-request", "pooled"],
        rates=[10],
        commands=["uptime"],
        seed=seed,
    )
    points = sweep.expand(c)
    made = dict(zip(points, _replay(points), strict=True))
    blocks = _blocks(points)
    assert len(blocks) == 3 * 2  # the profile blocks alternate as before
    in_force = None
    for block in blocks:
        ids = [sweep.point_id(p) for p in block]
        api = [sweep.deployment(p) for p in block if sweep.deployment(p)]
        # a deployment's points run together within the block: it is deployed at most once
        runs = [d for i, d in enumerate(api) if i == 0 or api[i - 1] != d]
        assert len(runs) == len(set(runs))
        # the block starts with the deployment the one before left in force, if it has it
        if in_force in api:
            assert api[0] == in_force
        assert sum(made[i] for i in ids) == len(set(api)) - (in_force in api)
        in_force = api[-1] if api else in_force
    # auth points never deploy; the plan says where the runner deploys and switches
    assert not any(made[pid] for pid, p in points.items() if p["pattern"] == "auth")
    plan = sweep.plan(c, points)
    assert [r["deploy"] for r in plan["points"]] == list(made.values())
    profiles = [p["profile"] for p in points.values()]
    assert [r["switch"] for r in plan["points"]] == [False] + [
        a != b for a, b in itertools.pairwise(profiles)
    ]
    cost = sweep.cost(points, config=c)
    assert cost["deploys"] == sum(made.values()) and cost["switches"] == 3
    # fewer deployments than one per deployment and block (the order before chaining)
    assert cost["deploys"] < sum(len({sweep.deployment(p) for p in b} - {None}) for b in blocks)


def test_the_last_block_ends_with_the_capacity_searchs_deployment():
    c = _grouped(
        {
            "all": {},
            "capacity": {
                "patterns": ["capacity"],
                "libraries": ["paramiko"],
                "connections": ["per-request"],
            },
        },
        profiles=["tuned"],
        connections=["per-request", "pooled"],
        rates=[10],
        commands=["uptime"],
        hosts=["taco"],
        trials=1,
    )
    points, searches = sweep.expand(c), sweep.searches(c)
    (search,) = searches.values()
    last = list(points.values())[-1]
    assert sweep.deployment(last) == sweep.deployment(search) == ("paramiko", "per-request")
    plan = sweep.plan(c, points, searches)
    assert plan["points"][-1]["kind"] == "search" and not plan["points"][-1]["deploy"]


def test_estimate_counts_the_fixed_costs_and_each_deploy_and_switch():
    c = cfg(trials=1, rates=[10], commands=["uptime"], hosts=["taco"])
    points = sweep.expand(c)
    cost = sweep.cost(points, config=c)
    rows = sweep.plan(c, points)["points"]
    assert cost["estimated_seconds"] == pytest.approx(
        sweep.SWEEP_FIXED_S
        + sum(r["load_s"] for r in rows)
        + len(rows) * sweep.POINT_OVERHEAD_S
        + cost["deploys"] * sweep.REDEPLOY_S
        + cost["switches"] * sweep.SWITCH_S
    )
    assert not rows[0]["switch"] and rows[0]["deploy"]  # the testbed comes up in its profile


def test_quick_sweep_deploys_each_api_once_per_block(capsys):
    from sshbench import cli

    quick = paths.EXPERIMENTS_DIR / "quick.yaml"
    c = sweep.load(quick)
    points, searches = sweep.expand(c), sweep.searches(c)
    for block in _blocks(points):
        api = [sweep.deployment(p) for p in block if sweep.deployment(p)]
        runs = [d for i, d in enumerate(api) if i == 0 or api[i - 1] != d]
        assert len(runs) == len(set(runs))
    made = _replay(points, next(iter(searches.values())))
    plan = sweep.plan(c, points, searches)
    assert [r["deploy"] for r in plan["points"]] == made
    # `sweep check` says what the order costs, set-up and analysis included
    cost = sweep.cost(points, searches, c)
    assert cli.main(["sweep", "check", str(quick)]) == 0
    out = capsys.readouterr().out
    assert f"{cost['deploys']} API deployments, {cost['switches']} sshd profile switches" in out
    assert cost["deploys"] == sum(made) and "analysis and teardown included" in out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_round_zero_is_rotated_to_end_with_the_searchs_profile(seed):
    """A B | B A | A B then a search in A would switch once more: B A | A B | B A does not."""
    c = _grouped(
        {"all": {}, "capacity": {"patterns": ["capacity"], "profiles": ["tuned"], "trials": 1}},
        libraries=["ssh2"],
        rates=[10],
        commands=["uptime"],
        hosts=["taco"],
        seed=seed,
    )
    points, searches = sweep.expand(c), sweep.searches(c)
    profiles = [p["profile"] for p in points.values()]
    assert profiles[-1] == "tuned"
    assert sum(a != b for a, b in itertools.pairwise(profiles)) == 3  # still one per round
    assert sweep.cost(points, searches, c)["switches"] == 3
