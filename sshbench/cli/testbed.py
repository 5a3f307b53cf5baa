"""``sshbench testbed up|switch|status|down|cpus|client-tcp``: the testbed steps as commands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from sshbench.testbed import testbed


def _profiles(path: str | None) -> dict[str, Any] | None:
    """Extra profiles from a YAML file holding an ``sshd_profiles:`` mapping (a sweep config)."""
    if not path:
        return None
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data.get("sshd_profiles"), dict):
        raise testbed.TestbedError(f"{path}: no sshd_profiles mapping in it")
    # the sweep schema's own rules (profile names reach file names and Ansible variables)
    import jsonschema

    from sshbench.sweep import sweep

    schema = sweep.load_schema()
    sub = {"$defs": schema["$defs"], **schema["properties"]["sshd_profiles"]}
    err = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(sub).iter_errors(data["sshd_profiles"])
    )
    if err is not None:
        where = "/".join(["sshd_profiles", *(str(p) for p in err.absolute_path)])
        raise testbed.TestbedError(f"{path}: {where}: {err.message}")
    return data["sshd_profiles"]


def _print(data: dict[str, Any]) -> int:
    """JSON on stdout; features this machine lacks are said once, on stderr."""
    for note in data.get("notes", []) if "run" in data else []:
        print(f"sshbench: note: {note}", file=sys.stderr)
    print(json.dumps(data, indent=2))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    return _print(testbed.up(args.inventory, args.profile, _profiles(args.profiles)))


def cmd_switch(args: argparse.Namespace) -> int:
    return _print(testbed.switch(args.profile, _profiles(args.profiles)))


def cmd_status(args: argparse.Namespace) -> int:
    return _print(testbed.status())


def cmd_cpus(args: argparse.Namespace) -> int:
    return _print(testbed.set_host_cpus(args.host, args.cpus))


def cmd_client_tcp(args: argparse.Namespace) -> int:
    return _print(testbed.set_client_tcp(args.mode))


def cmd_down(args: argparse.Namespace) -> int:
    testbed.down()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``testbed`` command group to the ``sshbench`` command."""
    parser = subparsers.add_parser("testbed", help="provision, reconfigure, inspect, remove hosts")
    steps = parser.add_subparsers(dest="step", required=True)
    extra = "YAML file with an sshd_profiles: mapping (extra profiles, e.g. a sweep config)"

    p = steps.add_parser("up", help="bring every host of an inventory up with an sshd profile")
    p.add_argument("--inventory", default="local", help="name under ansible/inventories or path")
    p.add_argument("--profile", default="default", help="sshd profile (default, tuned, ...)")
    p.add_argument("--profiles", help=extra)
    p.set_defaults(func=cmd_up)

    p = steps.add_parser("switch", help="switch every host to another sshd profile (reload)")
    p.add_argument("--profile", required=True, help="sshd profile (default, tuned, ...)")
    p.add_argument("--profiles", help=extra)
    p.set_defaults(func=cmd_switch)

    p = steps.add_parser("cpus", help="set one host's CPU quota now (no Ansible run)")
    p.add_argument("host", help="host name (taco, jetstream, ...)")
    p.add_argument("cpus", type=float, help="cores, any positive number (e.g. 0.25, 1, 2)")
    p.set_defaults(func=cmd_cpus)

    p = steps.add_parser("client-tcp", help="client TCP mode towards the hosts (route attribute)")
    p.add_argument("mode", choices=testbed.CLIENT_TCP_MODES, help="quickack: ACK at once")
    p.set_defaults(func=cmd_client_tcp)

    p = steps.add_parser(
        "status", help="hosts, addresses, profile, CPUs, client TCP mode, keys, provenance (JSON)"
    )
    p.set_defaults(func=cmd_status)

    p = steps.add_parser("down", help="remove everything the testbed made (safe twice)")
    p.set_defaults(func=cmd_down)
