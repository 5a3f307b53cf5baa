"""The ``sshbench`` command. Each command group is added by one ``register(subparsers)``
function: to add a group, write ``register`` in your module and append it to COMMAND_GROUPS."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from sshbench.cli import sweep, testbed, vms

COMMAND_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [
    testbed.register,
    sweep.register,
    vms.register,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sshbench", description=__doc__.split("\n")[0])
    groups = parser.add_subparsers(dest="group", required=True)
    for register in COMMAND_GROUPS:
        register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"sshbench: error: {exc}", file=sys.stderr)
        return 1
