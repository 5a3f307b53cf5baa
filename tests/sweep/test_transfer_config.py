"""The transfer pattern's config: its axes expand into readable ids, and a config that
cannot run is refused with one line naming the field (no testbed needed)."""

from __future__ import annotations

import copy

import pytest

from sshbench.sweep import sweep

BASE = {
    "sweep": "x",
    "points": {
        "hosts": ["taco"], "profiles": ["tuned"], "libraries": ["ssh2", "paramiko"],
        "connections": ["pooled"], "commands": ["uptime", "ls"],
    },
    "groups": {
        "t": {"patterns": ["transfer"], "transfer_sizes_mib": [1, 0.5], "streams": [1, 4],
              "directions": ["download", "upload"], "trials": 2},
    },
}  # fmt: skip


def test_transfer_points_expand_with_their_own_ids() -> None:
    points = sweep.expand(sweep.resolve(BASE))
    # libraries x sizes x streams x directions x trials; the command axis does not multiply
    assert len(points) == 2 * 2 * 2 * 2 * 2
    pid = "d0.5mx4-taco-c2-files-tuned-paramiko-pooled-tcpd-transfer-t1"
    p = points[pid]
    assert (p["direction"], p["transfer_size_mib"], p["streams"]) == ("download", 0.5, 4)
    assert p["command"] == "files" and p["duration_s"] == 20 and p["warmup_s"] == 5
    assert sweep.users_for(p, {"users_per_rps": 4, "min_users": 10, "max_users": 99}) == 4
    assert "u1mx1-taco-c2-files-tuned-ssh2-pooled-tcpd-transfer-t0" in points


def test_other_patterns_keep_their_parameters() -> None:
    cfg = copy.deepcopy(BASE)
    cfg["groups"]["r"] = {"rates": [5]}
    points = sweep.expand(sweep.resolve(cfg))
    p = points["r5-taco-c2-ls-tuned-ssh2-pooled-tcpd-sustained-t0"]
    assert "direction" not in p and "streams" not in p


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda g: g.pop("streams"), "groups.t.streams: required by the transfer pattern"),
        (lambda g: g.pop("directions"), "groups.t.directions: required by the transfer"),
        (lambda g: g.update(directions=["sideways"]), "groups.t.directions[0]: 'sideways'"),
        (lambda g: g.update(streams=[0]), "groups.t.streams[0]: 0 is less than the minimum"),
        (lambda g: g.update(transfer_sizes_mib=[0]), "groups.t.transfer_sizes_mib[0]"),
        (lambda g: g.update(libraries=["ssh2", "openssh"]), "openssh backend does not serve"),
    ],
)
def test_a_transfer_config_that_cannot_run_names_its_field(edit, message) -> None:
    cfg = copy.deepcopy(BASE)
    edit(cfg["groups"]["t"])
    with pytest.raises(sweep.ConfigError) as err:
        sweep.resolve(cfg)
    assert message in str(err.value) and "\n" not in str(err.value)
