"""One checked config loader (sshbench.sweep.sweep.check): Snakemake, `sshbench sweep check`
and progress refuse the same configs with the same one-line error naming the field, and the
axes' defaults come from the schema alone."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sshbench import cli, paths
from sshbench.sweep import progress, sweep

GOOD = {
    "sweep": "loader",
    "points": {
        "hosts": ["taco"],
        "profiles": ["default"],
        "libraries": ["ssh2"],
        "connections": ["per-request"],
        "commands": ["uptime"],
        "rates": [10],
    },
}


def _bad(change) -> dict:
    c = copy.deepcopy(GOOD)
    change(c)
    return c


# Configs the schema alone accepts but Snakemake refuses (inventory, hosts, sshd profiles:
# what `sweep check` let through before it shared Snakemake's loader), and one the schema
# refuses; each with the field the error must name.
BAD = {
    "unknown host": (
        _bad(lambda c: c["points"].update(hosts=["nohost"])),
        "points.hosts",
    ),
    "unknown profile": (
        _bad(lambda c: c["points"].update(profiles=["noprofile"])),
        "points.profiles",
    ),
    "unknown inventory": (_bad(lambda c: c.update(inventory="noinventory")), "inventory"),
    "schema": (_bad(lambda c: c["points"].update(rates=[-1])), "points.rates[0]"),
}


def _write(tmp_path: Path, config: dict) -> Path:
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump(config))
    return f


@pytest.mark.parametrize("case", sorted(BAD))
def test_sweep_check_refuses_with_one_line_naming_the_field(case, tmp_path, capsys):
    config, field = BAD[case]
    assert cli.main(["sweep", "check", str(_write(tmp_path, config))]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"sshbench: error: config field {field}: "), err
    with pytest.raises(sweep.ConfigError, match=rf"^config field {re.escape(field)}: "):
        progress.console_log(_write(tmp_path, config))


@pytest.mark.parametrize("case", ["unknown host", "unknown profile", "unknown inventory"])
def test_snakemake_refuses_the_same_configs_with_the_same_message(case, tmp_path, capsys):
    config, field = BAD[case]
    configfile = _write(tmp_path, config)
    cli.main(["sweep", "check", str(configfile)])
    ours = capsys.readouterr().err.removeprefix("sshbench: error: ").strip()
    env = {**os.environ, "SSHBENCH_RESULTS": str(tmp_path / "results")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "snakemake"),
            "-n",
            "--cores",
            "1",
            "--configfile",
            str(configfile),
        ],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert f"bad sweep config: {ours}" in proc.stdout + proc.stderr
    assert ours.startswith(f"config field {field}: ")


def test_the_good_config_passes_check(tmp_path, capsys):
    assert cli.main(["sweep", "check", str(_write(tmp_path, GOOD))]) == 0
    assert "sweep 'loader' is valid: 1 points" in capsys.readouterr().out


def test_axis_defaults_are_the_schemas(tmp_path, monkeypatch):
    schema = sweep.load_schema()
    declared = {k: v["default"] for k, v in schema["properties"]["points"]["properties"].items()}
    assert declared == sweep.AXIS_DEFAULTS
    assert declared["duration_s"] == 20
    # A different default in the schema file is what the loader fills in, and what the
    # points get: no second copy of the defaults anywhere.
    schema["properties"]["points"]["properties"]["duration_s"]["default"] = 33
    edited = tmp_path / "config.schema.yaml"
    edited.write_text(yaml.safe_dump(schema))
    monkeypatch.setattr(sweep, "SCHEMA_FILE", edited)
    config = sweep.resolve(GOOD)
    assert config["points"]["duration_s"] == 33
    (params,) = sweep.expand(config).values()
    assert params["duration_s"] == 33


def test_a_groups_missing_axis_falls_back_to_points_not_to_the_default():
    c = copy.deepcopy(GOOD)
    c["points"]["duration_s"] = 7
    c["groups"] = {"a": {}, "b": {"rates": [20], "duration_s": 9}}
    got = {p["rps"]: p["duration_s"] for p in sweep.expand(sweep.resolve(c)).values()}
    assert got == {10: 7, 20: 9}
