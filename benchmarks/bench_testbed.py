"""Bring-up, profile-switch and teardown times of the local testbed (two hosts), the cost of
the calls the runner makes around every point, and what the client's TCP mode does.

    .venv/bin/python benchmarks/bench_testbed.py [--reps 3] [--calls 30]

Runs under its own testbed name (SSHBENCH_TESTBED, default "perf") and a temporary state
directory, so it never touches another testbed. Each repetition: up (fresh), up again
(idempotent, nothing changes), switch default -> tuned, switch tuned -> default, down.
Prints every repetition and the medians. Then, on one more testbed: set_host_cpus (a change,
and the same value again), host_cpu_counters, set_client_tcp, and --calls bare ssh2-python
connect + auth + uptime + close calls to taco, one at a time, with the client TCP mode
default and quickack (median latency; with and without TCP_NODELAY on the client socket).
Needs root.
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STEPS = ["up", "up again", "switch to tuned", "switch to default", "down"]


def timed(step: Callable[[], object]) -> tuple[float, object]:
    started = time.monotonic()
    result = step()
    return time.monotonic() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--calls", type=int, default=30, help="ssh2 calls per TCP mode")
    args = parser.parse_args()
    if not 1 <= args.calls <= 500:
        parser.error(f"--calls {args.calls}: use 1-500")
    os.environ.setdefault("SSHBENCH_TESTBED", "perf")
    os.environ["SSHBENCH_STATE"] = tempfile.mkdtemp(prefix="sshbench-bench-")
    from sshbench import paths
    from sshbench.testbed import testbed

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
    try:
        between_points(testbed.up("local", "default"), args.calls)
    finally:
        testbed.down()
    return 0


def per_call(call: Callable[[], Any], n: int) -> float:
    """Median seconds of n calls."""
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return statistics.median(out)


def between_points(st: dict[str, Any], calls: int) -> None:
    """The calls the runner makes before and during each point, and the client TCP modes."""
    from sshbench.testbed import testbed
    from tests.testbed.ssh2_calls import call

    def cpus_change() -> None:
        testbed.set_host_cpus("taco", 0.25)
        testbed.set_host_cpus("taco", 2)

    print("\ncalls between points (median):")
    print(f"  set_host_cpus, a change            {per_call(cpus_change, 20) / 2 * 1e3:8.2f} ms")
    same = per_call(lambda: testbed.set_host_cpus("taco", 2), 200)
    print(f"  set_host_cpus, already in force    {same * 1e3:8.2f} ms")
    counters = per_call(lambda: testbed.host_cpu_counters("taco"), 2000)
    print(f"  host_cpu_counters                  {counters * 1e6:8.1f} us")

    def tcp_change() -> None:
        testbed.set_client_tcp("quickack")
        testbed.set_client_tcp("default")

    print(f"  set_client_tcp, a change           {per_call(tcp_change, 10) / 2 * 1e3:8.2f} ms")
    same = per_call(lambda: testbed.set_client_tcp("default"), 20)
    print(f"  set_client_tcp, already in force   {same * 1e3:8.2f} ms")
    print(f"  status()                           {per_call(testbed.status, 20) * 1e3:8.2f} ms")

    taco = st["hosts"]["taco"]
    print(
        f"\nbare ssh2-python connect+auth+uptime+close to taco (2 CPUs), one thread, "
        f"{calls} calls after 3 warm-up, median ms:"
    )
    print(f"  {'client socket':<24} {'default':>8} {'quickack':>9}")
    for nodelay in (False, True):
        row = {}
        for mode in ("default", "quickack"):
            testbed.set_client_tcp(mode)
            for _ in range(3):
                call(taco, nodelay=nodelay)
            row[mode] = per_call(lambda nd=nodelay: call(taco, nodelay=nd), calls) * 1e3
        label = "TCP_NODELAY (as the API)" if nodelay else "plain"
        print(f"  {label:<24} {row['default']:8.1f} {row['quickack']:9.1f}")
    testbed.set_client_tcp("default")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
