"""``sshbench vms up|status|down``: the emulated cloud (sshbench.testbed.vms_local) as commands."""

from __future__ import annotations

import argparse
import json

from sshbench.testbed import vms_local


def cmd_up(args: argparse.Namespace) -> int:
    print(json.dumps(vms_local.up(), indent=2))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    print(json.dumps(vms_local.status(), indent=2))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    for line in vms_local.down():
        print(line)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``vms`` command group to the ``sshbench`` command."""
    parser = subparsers.add_parser(
        "vms", help="emulated VMs reached over SSH (inventory vms-local; SSHBENCH_VMS names them)"
    )
    steps = parser.add_subparsers(dest="step", required=True)
    steps.add_parser("up", help="make the VMs (namespaces, one admin sshd each)").set_defaults(
        func=cmd_up
    )
    steps.add_parser("status", help="what vms.json holds (JSON; null: not up)").set_defaults(
        func=cmd_status
    )
    steps.add_parser(
        "down", help="remove every VM and its admin account (safe twice)"
    ).set_defaults(func=cmd_down)
