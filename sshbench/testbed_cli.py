"""``sshbench testbed up|switch|status|down``: the testbed steps as commands."""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from sshbench import testbed


def _profiles(path: str | None) -> dict[str, Any] | None:
    """Extra profiles from a YAML file holding an ``sshd_profiles:`` mapping (a sweep config)."""
    if not path:
        return None
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data.get("sshd_profiles"), dict):
        raise testbed.TestbedError(f"{path}: no sshd_profiles mapping in it")
    return data["sshd_profiles"]


def _print(data: Any) -> int:
    print(json.dumps(data, indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("testbed", help="provision, reconfigure, inspect, remove hosts")
    steps = parser.add_subparsers(dest="step", required=True)

    p = steps.add_parser("up", help="bring every host of an inventory up with an sshd profile")
    p.add_argument("--inventory", default="local", help="name under ansible/inventories or path")
    p.add_argument("--profile", default="default", help="sshd profile (default, tuned, ...)")
    p.add_argument("--profiles", help="YAML file with an sshd_profiles: mapping (extra profiles)")
    p.set_defaults(func=lambda a: _print(testbed.up(a.inventory, a.profile, _profiles(a.profiles))))

    p = steps.add_parser("switch", help="switch every host to another sshd profile (reload)")
    p.add_argument("--profile", required=True)
    p.add_argument("--profiles", help="YAML file with an sshd_profiles: mapping (extra profiles)")
    p.set_defaults(func=lambda a: _print(testbed.switch(a.profile, _profiles(a.profiles))))

    p = steps.add_parser("status", help="hosts, addresses, profile, keys, provenance (JSON)")
    p.set_defaults(func=lambda a: _print(testbed.status()))

    p = steps.add_parser("down", help="remove everything the testbed made (safe twice)")
    p.set_defaults(func=lambda a: testbed.down() or 0)
