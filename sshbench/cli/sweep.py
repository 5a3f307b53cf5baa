"""``sshbench sweep check|list|point|teardown``: sweeps without Snakemake, for a quick look
or one point by hand (Snakemake remains the way to run a whole sweep)."""

from __future__ import annotations

import argparse
import json

from sshbench import paths
from sshbench.sweep import point, sweep


def cmd_check(args: argparse.Namespace) -> int:
    config = sweep.load(args.config)
    points = sweep.expand(config)
    cost = sweep.cost(points, sweep.searches(config), config)
    print(
        f"{args.config}: sweep {config['sweep']!r} is valid: {cost['points']} points, "
        f"{cost['searches']} capacity searches, "
        f"{cost['load_seconds']:.0f} s of load, {cost['deploys']} API deployments, "
        f"{cost['switches']} sshd profile switches: about "
        f"{_duration(cost['estimated_seconds'])} in all on a quiet 2-core machine (testbed "
        "set-up, analysis and teardown included; installing the environment not)"
    )
    return 0


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _only_group(config: dict, group: str | None) -> dict:
    """The config reduced to one of its groups (None: the whole sweep)."""
    if group is None:
        return config
    groups = config.get("groups") or {}
    if group not in groups:
        raise ValueError(
            f"no group {group!r} in sweep {config['sweep']!r}: it has {sorted(groups)}"
        )
    return {**config, "groups": {group: groups[group]}}


def cmd_list(args: argparse.Namespace) -> int:
    config = _only_group(sweep.load(args.config), args.group)
    layout = paths.SweepLayout.of(config["sweep"])
    points, searches = sweep.expand(config), sweep.searches(config)
    for pid, params in points.items():
        if args.targets:
            print(layout.point_files(pid).record)
        else:
            print(json.dumps({"id": pid, **params}) if args.json else pid)
    for sid, params in searches.items():
        if args.targets:
            print(layout.capacity_search(sid))
        else:
            print(json.dumps({"id": sid, **params}) if args.json else sid)
    return 0


def cmd_point(args: argparse.Namespace) -> int:
    config = sweep.load(args.config)
    points = sweep.expand(config)
    if args.point_id not in points:
        raise ValueError(f"no point {args.point_id!r} in {args.config}: see `sshbench sweep list`")
    rec = point.run(
        config["sweep"], args.point_id, points[args.point_id], sweep.run_settings(config)
    )
    return 0 if rec["status"] == "ok" else 1


def cmd_teardown(args: argparse.Namespace) -> int:
    point.teardown()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` command group to the ``sshbench`` command."""
    parser = subparsers.add_parser("sweep", help="check or list a sweep, run one point")
    cmds = parser.add_subparsers(dest="sweep_cmd", required=True)
    p = cmds.add_parser("check", help="validate a sweep config; print its size and cost")
    p.add_argument("config", help="sweep config, e.g. experiments/quick.yaml")
    p.set_defaults(func=cmd_check)
    p = cmds.add_parser("list", help="print every point id of a sweep, in run order")
    p.add_argument("config")
    p.add_argument("--json", action="store_true", help="one JSON object per point")
    p.add_argument("--group", help="only this group of the sweep (e.g. loadtest)")
    p.add_argument(
        "--targets",
        action="store_true",
        help="Snakemake targets (point.json and capacity files) instead of ids",
    )
    p.set_defaults(func=cmd_list)
    p = cmds.add_parser("point", help="run one point (testbed, API, Locust) into results/")
    p.add_argument("config")
    p.add_argument("point_id")
    p.set_defaults(func=cmd_point)
    p = cmds.add_parser("teardown", help="stop the SSH API and take the testbed down")
    p.set_defaults(func=cmd_teardown)
