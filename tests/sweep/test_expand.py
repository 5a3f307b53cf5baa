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
