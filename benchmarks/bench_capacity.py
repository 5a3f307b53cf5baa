#!/usr/bin/env python3
"""How far the SSH API goes on this machine, against what SSH alone allows, in one run.

On one local testbed host (taco, the study's 2 CPUs, tuned sshd), in this order:
1. the bare ceiling: K client threads calling the SSH library directly (connect + auth +
   `uptime` + close per call, and `uptime` over one reused connection per thread), calls/s
   over a few seconds each, and the library's own client CPU per call;
2. the API's capacity at the study's bound (sshbench.sweep.capacity: p99 of latency from the
   schedule < 2 s, no failure, >= 97 % of the target sent) per library and connection
   mode, per request with and without the client's quickack route;
3. the API's own CPU per request, less the SSH library: the API process tree's CPU per
   answer (resource accounting, at the highest passing step) minus the bare client CPU per
   call of the same library and mode.
Then the ratios against the project's goals. Every load is bounded in count and time; the
testbed and the API are taken down at the end, even on failure. Its points go to a
temporary results directory, never into results/.

    .venv/bin/python benchmarks/bench_capacity.py [--libraries ssh2 paramiko] [--seconds 5]

--start-rps and --max-steps override every search's (tests/test_benchmarks_smoke.py runs
one step each, to keep the output from rotting; such a run measures nothing). The testbed
is SSHBENCH_TESTBED, default "hcap".

A benchmark, not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from sshbench.load import resources  # no paths: safe before SSHBENCH_* are set below

GOALS = {
    "per_request_vs_bare": 0.90,  # API per-request capacity >= 90 % of the bare ceiling
    "pooled_vs_per_request": 5.0,  # pooled capacity >= 5x per-request
    "api_cpu_ms": 2.0,  # the API's own CPU per request <= 2 ms
}
LIBRARIES = ("ssh2", "paramiko", "openssh")
# Pooled capacity is a few times the per-request one: its search starts higher and may take
# more steps, so that it closes in to the resolution too (the first run, from 40 RPS in 8
# steps, stopped at a 25 % bracket).
SEARCH = {
    "per-request": lambda s: s,
    "pooled": lambda s: {**s, "capacity": {**s["capacity"], "start_rps": 150, "max_steps": 10}},
}


def bare_rate(call, threads: int, seconds: float, setup=None, teardown=None) -> tuple[float, float]:
    """(calls/s, client CPU ms per call) of `threads` threads calling `call` for `seconds`."""
    counts = [0] * threads
    errors: list[BaseException] = []
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        ctx = setup() if setup else None
        try:
            while time.monotonic() < stop:
                call(ctx)
                counts[i] += 1
        except BaseException as e:  # reported after the run
            errors.append(e)
        finally:
            if teardown and ctx is not None:
                teardown(ctx)

    cpu0, t0 = resources.self_cpu_seconds(), time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(seconds + 60)
    wall, cpu = time.monotonic() - t0, resources.self_cpu_seconds() - cpu0
    if errors:
        raise RuntimeError(f"bare loop failed: {errors[0]!r}")
    n = sum(counts)
    return n / wall, (1000 * cpu / n if n else float("nan"))


def measure_bare(library: str, target, seconds: float) -> dict[str, float]:
    from sshapi import backends
    from sshapi.settings import Settings

    settings = Settings(library=library)
    pooled_settings = Settings(library=library, connections="pooled")  # `ssh`: a ControlMaster
    backend = backends.load(library)

    def per_request(_ctx) -> None:
        conn = backend.connect(target, settings)
        try:
            if conn.exec("uptime", 30).exit_status != 0:
                raise RuntimeError("uptime failed")
        finally:
            conn.close()

    def pooled(conn) -> None:
        if conn.exec("uptime", 30).exit_status != 0:
            raise RuntimeError("uptime failed")

    out = {}
    out["perreq_rate"], _ = max(
        (bare_rate(per_request, k, seconds) for k in (8, 16)), key=lambda r: r[0]
    )
    _, out["perreq_cpu_ms"] = bare_rate(per_request, 1, seconds)
    out["pooled_rate"], _ = bare_rate(
        pooled,
        4,
        seconds,
        setup=lambda: backend.connect(target, pooled_settings),
        teardown=lambda c: c.close(),
    )
    _, out["pooled_cpu_ms"] = bare_rate(
        pooled,
        1,
        seconds,
        setup=lambda: backend.connect(target, pooled_settings),
        teardown=lambda c: c.close(),
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per step")
    p.add_argument("--start-rps", type=float, help="first step of every search")
    p.add_argument("--max-steps", type=int, help="steps of every search at most")
    args = p.parse_args(argv)
    if not 2 <= args.seconds <= 60:
        p.error(f"--seconds {args.seconds}: use 2-60")
    if args.start_rps is not None and not 1 <= args.start_rps <= 1000:
        p.error(f"--start-rps {args.start_rps}: use 1-1000")
    if args.max_steps is not None and not 1 <= args.max_steps <= 20:
        p.error(f"--max-steps {args.max_steps}: use 1-20")
    override = {
        k: v
        for k, v in (("start_rps", args.start_rps), ("max_steps", args.max_steps))
        if v is not None
    }
    work = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    os.environ.setdefault("SSHBENCH_TESTBED", "hcap")
    os.environ.update(SSHBENCH_RESULTS=str(work / "results"), SSHBENCH_STATE=str(work / "state"))
    from analysis.collect import collect
    from sshbench.load import authtime
    from sshbench.sweep import capacity, point, sweep
    from sshbench.testbed import testbed

    config = sweep.resolve(
        {
            "sweep": "bench_capacity",
            "points": {
                "hosts": ["taco"], "profiles": ["tuned"], "libraries": ["ssh2"],
                "connections": ["per-request"], "commands": ["uptime"], "rates": [10],
                "duration_s": args.seconds, "warmup_s": 2,
            },
            "capacity": {"start_rps": 40, "growth": 1.5, "resolution": 0.05, "max_steps": 8},
        }
    )  # fmt: skip
    settings = sweep.run_settings(config)
    base = {"rps": None, "host": "taco", "host_cpus": 2, "command": "uptime", "profile": "tuned",
            "pattern": "capacity", "duration_s": args.seconds, "warmup_s": 2, "trial": 0,
            "seed": 1, "burst_size": None}  # fmt: skip
    rows, bare = [], {}
    started = time.monotonic()
    try:
        st = testbed.up(inventory="local", profile="tuned")
        testbed.set_host_cpus("taco", 2)
        testbed.set_client_tcp("default")
        target = authtime.target_of("taco", st["hosts"]["taco"])
        for lib in args.libraries:
            bare[lib] = measure_bare(lib, target, args.seconds)
        for lib in args.libraries:
            for conn, tcp in (("per-request", "default"), ("per-request", "quickack"),
                              ("pooled", "default")):  # fmt: skip
                params = {**base, "library": lib, "connections": conn, "client_tcp": tcp}
                sid = sweep.search_id(params)
                wanted = SEARCH[conn](settings)
                wanted = {**wanted, "capacity": {**wanted["capacity"], **override}}
                res = capacity.search(config["sweep"], sid, params, wanted)
                rows.append((lib, conn, tcp, res))
        tidy = collect(work / "results" / "bench_capacity")
    finally:
        point.teardown(log=lambda m: None)
    wall = time.monotonic() - started

    def api_cpu(res) -> float:
        """The API tree's CPU ms per answer at the highest passing step."""
        best = [s for s in res["steps"] if s["passes"]]
        if not best:
            return float("nan")
        pid = max(best, key=lambda s: s["rps"])["id"]
        v = tidy[(tidy["point_id"] == pid) & (tidy["metric"] == "demand_ms_api")]["value"]
        return float(v.iloc[0]) if len(v) else float("nan")

    load = os.getloadavg()[0]
    print(f"taco: 2 CPUs (cgroup quota), tuned sshd, ed25519; {args.seconds:g} s steps; "
          f"load average {load:.2f} at the end; {wall / 60:.1f} min in all")  # fmt: skip
    print("bare = the library alone, K threads (best of 8 and 16 per request, 4 pooled)")
    cols = ("library", "mode", "tcp", "bare/s", "API cap", "bracket", "ratio", "API cpu ms")
    fmt = "{:<9} {:<11} {:<9} {:>7} {:>8} {:>11} {:>6} {:>10}"
    print(fmt.format(*cols))
    print("-" * len(fmt.format(*cols)))
    summary = {}
    for lib, conn, tcp, res in rows:
        mode = "perreq" if conn == "per-request" else "pooled"
        b, lib_cpu = bare[lib][f"{mode}_rate"], bare[lib][f"{mode}_cpu_ms"]
        cap = res["capacity_rps"] or 0.0
        lo, hi = res["bracket"]
        own = api_cpu(res) - lib_cpu
        summary[(lib, conn, tcp)] = (cap, b, own)
        bracket = f"{lo:g}-{hi:g}" if hi else f">={lo:g}"
        print(fmt.format(lib, conn, tcp, f"{b:.0f}", f"{cap:.0f}", bracket, f"{cap / b:.2f}",
                         f"{own:.2f}"))  # fmt: skip
    print("API cpu ms: the API process tree's CPU per answer less the bare library's client CPU")
    print("goals:")
    for lib in args.libraries:
        cap, b, own = summary[(lib, "per-request", "default")]
        pooled = summary[(lib, "pooled", "default")][0]
        times = pooled / cap if cap else float("nan")
        print(
            f"  {lib:<9} per-request / bare {cap / b:.2f} (>= {GOALS['per_request_vs_bare']:.2f});"
            f" pooled / per-request {times:.1f}x (>= {GOALS['pooled_vs_per_request']:g}x);"
            f" API CPU {own:.2f} ms (<= {GOALS['api_cpu_ms']:g} ms)"
        )
    med = statistics.median(v[2] for v in summary.values() if v[2] == v[2]) if summary else 0
    print(f"median API CPU per request (less the library): {med:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
