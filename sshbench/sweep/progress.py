"""What the console says about a sweep's progress: position and time left after each point,
the summary at the end, and how to continue after Ctrl-C or an error.

The workflow writes the sweep's plan to ``sweep_dir(sweep) / PLAN_FILE`` before any point
runs: ``{"sweep", "seed", "points": [{"id", "kind", "order", "load_s", "overhead_s"}, ...]}``
with the points, then the capacity searches (kind "search"), in run order. A point is done
when its ``point.json`` exists, a search when its ``capacity/<id>.json`` does (each written
last, atomically).
Everything here only reads; a missing or unreadable plan gives no progress text, never an
error, because a point must not fail over its console line.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from measure.point import PointRecord
from sshbench import paths

PLAN_FILE = "plan.json"
# Set by `make reproduce` to the command a user types to continue (e.g. `make reproduce`);
# without it the stop message repeats the snakemake command line.
RERUN_ENV = "SSHBENCH_RERUN"


def left_text(seconds: float) -> str:
    """`~3 min left`, `~1 h 05 min left`, `<1 min left`, or `done` for nothing left."""
    if seconds <= 0:
        return "done"
    if seconds < 60:
        return "<1 min left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"~{minutes} min left"
    return f"~{minutes // 60} h {minutes % 60:02d} min left"


def _points(plan: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return sorted(plan.get("points", []), key=lambda p: p.get("order", 0))


def seconds_left(plan: Mapping[str, Any], done_ids: Iterable[str]) -> float:
    """Planned load + overhead seconds of the plan's points not in `done_ids`."""
    done = set(done_ids)
    return sum(
        float(p.get("load_s", 0)) + float(p.get("overhead_s", 0))
        for p in _points(plan)
        if p["id"] not in done
    )


def progress_text(plan: Mapping[str, Any], done_ids: Iterable[str], now_id: str) -> str:
    """`[12/28, ~3 min left]` after point `now_id` finished; `done_ids` are the points done
    before it (from this run or an earlier, interrupted one). Points outside the plan are
    not counted."""
    done = set(done_ids) | {now_id}
    ids = [p["id"] for p in _points(plan)]
    finished = sum(1 for pid in ids if pid in done)
    return f"[{finished}/{len(ids)}, {left_text(seconds_left(plan, done))}]"


def plan_file(sweep: str) -> Path:
    return paths.sweep_dir(sweep) / PLAN_FILE


def read_plan(sweep: str) -> dict[str, Any] | None:
    """The sweep's plan.json, or None when it is missing or not a plan."""
    try:
        plan = json.loads(plan_file(sweep).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(plan, dict) or not isinstance(plan.get("points"), list):
        return None
    return plan


def record_file(sweep: str, row: Mapping[str, Any]) -> Path:
    """The file whose existence says a plan row is done: point.json, or a search's record."""
    if row.get("kind") == "search":
        return paths.SweepLayout.of(sweep).capacity_search(row["id"])
    return paths.SweepLayout.of(sweep).point_files(row["id"]).record


def done_ids(sweep: str, plan: Mapping[str, Any]) -> set[str]:
    """Points and searches of the plan whose record exists."""
    return {p["id"] for p in _points(plan) if record_file(sweep, p).exists()}


def sweep_progress(sweep: str, now_id: str) -> str:
    """The progress text for the console line of point `now_id` that just finished, read
    from the sweep's plan and points directory; "" when there is no plan."""
    plan = read_plan(sweep)
    if plan is None:
        return ""
    return progress_text(plan, done_ids(sweep, plan) - {now_id}, now_id)


def rerun_command(argv: list[str] | None = None) -> str:
    """The command that continues this run: $SSHBENCH_RERUN, else this snakemake command."""
    given = os.environ.get(RERUN_ENV)
    if given:
        return given
    args = sys.argv[1:] if argv is None else argv
    return shlex.join(["snakemake", *args])


def stopped_text(sweep: str, command: str) -> str:
    """What the console says when a sweep stops early (Ctrl-C or an error)."""
    plan = read_plan(sweep)
    if plan is None:
        kept = "finished points are kept"
    else:
        done = done_ids(sweep, plan)
        kept = f"{len(done)} of {len(plan['points'])} points finished and kept"
        if len(done) < len(plan["points"]):
            kept += f", {left_text(seconds_left(plan, done)).replace('left', 'to go')}"
    return (
        f"sweep {sweep} stopped before the end ({kept}). To continue where it stopped, "
        f"run the same command again: {command}"
    )


def finished_text(sweep: str, report: str | Path) -> str:
    """What the console says when a Snakemake run ended well: the sweep's points done (ok /
    failed) and the report, when it exists. Only states facts on disk, so it also reads
    right after a run of one target (`snakemake teardown`)."""
    parts = []
    plan = read_plan(sweep)
    if plan is not None:
        rows = _points(plan)
        points = [r for r in rows if r.get("kind") != "search"]
        searches = [r for r in rows if r.get("kind") == "search"]
        counts: dict[str, int] = {}
        for row in points:
            if not record_file(sweep, row).exists():
                continue
            try:
                status = PointRecord.read(record_file(sweep, row).parent).status
            except (OSError, ValueError, KeyError, TypeError):
                status = "unreadable"
            counts[status] = counts.get(status, 0) + 1
        text = f"{sum(counts.values())} of {len(points)} points done"
        if counts:
            text += " (" + ", ".join(f"{n} {st}" for st, n in sorted(counts.items())) + ")"
        if searches:
            found = sum(record_file(sweep, r).exists() for r in searches)
            text += f", {found} of {len(searches)} capacity searches"
        parts.append(text)
    if Path(report).exists():
        parts.append(f"report: {_shown(Path(report))}")
    return f"sweep {sweep}: " + ("; ".join(parts) or "nothing to report")


def _shown(path: Path) -> Path:
    """`path` relative to the working directory when it is inside it (shorter to read)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def console_log(config: str | Path) -> Path:
    """Where `make reproduce` sends Snakemake's own output for sweep config `config`."""
    from sshbench.sweep import sweep as sb_sweep  # the config reader, only for this command

    name = sb_sweep.load(config)["sweep"]
    return paths.sweep_logs_dir(name) / "snakemake.log"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sshbench.sweep.progress")
    parser.add_argument("what", choices=["console-log"])
    parser.add_argument("config", help="sweep config, e.g. experiments/quick.yaml")
    args = parser.parse_args(argv)
    log = console_log(args.config)
    log.parent.mkdir(parents=True, exist_ok=True)
    print(log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
