"""The sshd_config template: PerSourcePenalties only where sshd has it, and valid for sshd -t.

Rendered with jinja2 as Ansible's template module does (trim_blocks); Ansible's `comment`
filter is replaced by a plain one. The OpenSSH >= 9.8 branch cannot run against this
machine's sshd (9.2), so it is checked as text.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from sshbench import paths

ROLE = paths.ANSIBLE_DIR / "roles" / "sshd"


def render(tmp_path: Path, **overrides: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"),
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["comment"] = lambda text: "\n".join(f"# {line}" for line in text.splitlines())
    env.filters["bool"] = bool
    variables = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables.update(
        ansible_managed="Ansible managed",
        sshd_host_key_dir=str(tmp_path),
        sshd_pid_file=str(tmp_path / "sshd.pid"),
        sshd_version="9.2",
        sshd_penalties_supported=False,
        sshd_penalty_exempt=["198.18.0.1/32"],
    )
    settings = overrides.pop("settings", {})
    variables.update(overrides)
    # What the role's tasks/check_vars.yml sets: the profile merged over the defaults.
    variables["sshd_settings"] = {**variables["sshd_profile_defaults"], **settings}
    return env.get_template("sshd_config.j2").render(**variables)


def directives(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_old_sshd_gets_no_penalty_options(tmp_path: Path) -> None:
    lines = directives(render(tmp_path))
    assert not [line for line in lines if line.startswith("PerSourcePenalt")]
    assert "MaxStartups 10:30:100" in lines and "MaxSessions 10" in lines


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("exempt", ["PerSourcePenaltyExemptList 198.18.0.1/32"]),
        ("off", ["PerSourcePenalties no"]),
        ("keep", []),
    ],
)
def test_new_sshd_gets_the_chosen_penalty_handling(
    tmp_path: Path, choice: str, expected: list[str]
) -> None:
    new = {"sshd_version": "9.8", "sshd_penalties_supported": True}
    text = render(tmp_path, sshd_per_source_penalties=choice, **new)
    assert [line for line in directives(text) if line.startswith("PerSourcePenalt")] == expected
    assert f"choice: {choice}" in text


def test_rendered_config_passes_sshd_t(tmp_path: Path, require) -> None:
    require(os.geteuid() == 0, "sshd -t needs root and /run/sshd")
    key = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = tmp_path / "sshd_config"
    for profile, settings in [("tuned", ("1000:30:3000", 3000)), ("broken", ("100:30:10", 10))]:
        config.write_text(
            render(tmp_path, sshd_profile=profile,
                   settings={"max_startups": settings[0], "max_sessions": settings[1]})
        )  # fmt: skip
        Path("/run/sshd").mkdir(exist_ok=True)
        done = subprocess.run(["/usr/sbin/sshd", "-t", "-f", str(config)], capture_output=True)
        assert (done.returncode == 0) == (profile == "tuned"), done.stderr
