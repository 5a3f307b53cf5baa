"""Bring-up, profile-switch and teardown times of the local testbed (two hosts).

    .venv/bin/python benchmarks/bench_testbed.py [--reps 3]

Runs under its own testbed name (SSHBENCH_TESTBED, default "perf") and a temporary state
directory, so it never touches another testbed. Each repetition: up (fresh), up again
(idempotent, nothing changes), switch default -> tuned, switch tuned -> default, down.
Prints every repetition and the medians. Needs root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STEPS = ["up", "up again", "switch to tuned", "switch to default", "down"]


def timed(step: Callable[[], object]) -> tuple[float, object]:
    started = time.monotonic()
    result = step()
    return time.monotonic() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("SSHBENCH_TESTBED", "perf")
    os.environ["SSHBENCH_STATE"] = tempfile.mkdtemp(prefix="sshbench-bench-")
    from sshbench import paths, testbed

    print(
        f"testbed {paths.testbed_name()!r}, 2 hosts (local inventory), {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} (the machine is shared: times grow with it)"
    )
    testbed.down()  # leftovers of an earlier, interrupted benchmark
    times: dict[str, list[float]] = {step: [] for step in STEPS}
    try:
        for rep in range(args.reps):
            row = []
            for step, call in [
                ("up", lambda: testbed.up("local", "default")),
                ("up again", lambda: testbed.up("local", "default")),
                ("switch to tuned", lambda: testbed.switch("tuned")),
                ("switch to default", lambda: testbed.switch("default")),
                ("down", testbed.down),
            ]:
                seconds, result = timed(call)
                if step == "up again" and result["run"]["changed"] != 0:
                    print(
                        f"warning: second up changed {result['run']['changed']} things: "
                        f"see {result['run']['log']}"
                    )
                times[step].append(seconds)
                row.append(f"{step} {seconds:5.1f} s")
            print(f"rep {rep + 1}: " + ", ".join(row))
    finally:
        testbed.down()
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"\nmedian of {args.reps} (seconds, wall clock, includes ansible-playbook start-up):")
    for step in STEPS:
        print(f"  {step:<18} {statistics.median(times[step]):6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
