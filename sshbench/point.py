"""Run one sweep point: testbed profile, API deployment, Locust load, point.json.

A point never raises for a failure of the system under test: it records `status: failed`
with an `error_class` (testbed_error, api_down, sshd_died, locust_error, internal_error)
and the sweep goes on. `point.json` is written last and atomically, so a point directory
with a point.json is final and one without it is a crashed run's leftover (removed here).
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from sshbench import api_deploy, loadgen, paths, provenance, sweep, testbed


class PointFailure(Exception):
    """A point failed in a known way; error_class says which."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


class _Log:
    """Timestamped lines into the point's job log (the console gets one line per point)."""

    def __init__(self, path: Path | None) -> None:
        self.fh = open(path, "a") if path else sys.stderr  # noqa: SIM115

    def __call__(self, msg: str) -> None:
        self.fh.write(f"{time.strftime('%H:%M:%S')} {msg}\n")
        self.fh.flush()

    def close(self) -> None:
        if self.fh is not sys.stderr:
            self.fh.close()


def _sigterm(signum, frame):  # Snakemake stops jobs with SIGTERM: run the finally blocks
    raise SystemExit(128 + signum)


def ensure_testbed(
    inventory: str, profile: str, profiles: dict[str, Any] | None, log
) -> dict[str, Any]:
    """The testbed up, every sshd alive, with `profile` active; as little work as possible."""
    st = testbed.status()
    hosts = st.get("hosts") or {}
    alive = bool(hosts) and all(h.get("alive") for h in hosts.values())
    if st.get("inventory") != inventory or not alive:
        why = "not up" if not hosts else ("sshd not running" if not alive else "other inventory")
        log(f"testbed: up ({why}) inventory={inventory} profile={profile}")
        st = testbed.up(inventory=inventory, profile=profile, profiles=profiles)
    elif st.get("profile") != profile:
        log(f"testbed: switch {st.get('profile')} -> {profile}")
        st = testbed.switch(profile, profiles=profiles)
    else:
        log(f"testbed: up with profile {profile}, nothing to do")
    bad = [h for h, v in st["hosts"].items() if not v.get("alive")]
    if bad:
        raise PointFailure("testbed_error", f"sshd not running on {', '.join(bad)} after up")
    return st


def _api_log_offset() -> int:
    try:
        return api_deploy.log_file().stat().st_size
    except OSError:
        return 0


def _copy_api_log(offset: int, dest: Path) -> None:
    src = api_deploy.log_file()
    try:
        with open(src, "rb") as fh:
            if fh.seek(0, 2) < offset:  # a new deployment started a new log
                offset = 0
            fh.seek(offset)
            dest.write_bytes(fh.read())
    except OSError:
        dest.write_text("")


def make_load(
    params: dict[str, Any], settings: dict[str, Any], deployment: dict[str, Any]
) -> loadgen.Load:
    lg = settings["loadgen"]
    sustained = params["pattern"] == "sustained"
    return loadgen.Load(
        url=deployment["url"],
        token=deployment["token"],
        cred=deployment["credentials"][params["host"]],
        command=params["command"],
        pattern=params["pattern"],
        rps=params["rps"],
        burst_size=params["burst_size"],
        schedule_s=(params["warmup_s"] + params["duration_s"]) if sustained else 0.0,
        warmup_s=params["warmup_s"] or 0.0,
        users=sweep.users_for(params, lg),
        processes=lg["processes"],
        ls_path=settings.get("ls_path", "/"),
        timeout_s=lg["request_timeout_s"],
        late_ms=lg["late_ms"],
        limited_cpu_percent=lg["limited_cpu_percent"],
        limited_late_fraction=lg["limited_late_fraction"],
    )


def _measure(
    params: dict[str, Any], settings: dict[str, Any], pdir: Path, ctx: dict[str, Any], log
) -> None:
    """Testbed, API, load. Fills ctx (status, deployment, summary) as far as it gets, so a
    failure still records what was measured; raises PointFailure on a known failure."""
    try:
        ctx["status"] = st = ensure_testbed(
            settings["inventory"], params["profile"], settings.get("sshd_profiles"), log
        )
    except testbed.TestbedError as e:
        raise PointFailure("testbed_error", str(e)) from None
    host = st["hosts"].get(params["host"])
    if host is None:
        raise PointFailure(
            "testbed_error", f"host {params['host']!r} is not in the testbed: {sorted(st['hosts'])}"
        )
    try:
        ctx["deployment"] = dep = api_deploy.ensure(
            params["library"],
            params["connections"],
            settings["api"],
            st,
            log,
            inventory=settings["inventory"],
        )
    except (api_deploy.DeployError, OSError) as e:
        raise PointFailure("api_down", f"deploying the API failed: {e}") from None
    load = make_load(params, settings, dep)
    offset = _api_log_offset()
    log(f"locust: {load.pattern} rps={load.rps} burst={load.burst_size} users={load.users}")
    facts = loadgen.run(load, pdir, log)
    _copy_api_log(offset, pdir / "api.log")
    rows = loadgen.read_requests(pdir / "requests.csv")
    ctx["summary"] = loadgen.summarise(load, facts, rows)
    sshd_pid = host.get("sshd_pid")
    if not Path(f"/proc/{sshd_pid}").exists():
        raise PointFailure("sshd_died", f"sshd of {params['host']} (PID {sshd_pid}) died")
    if not api_deploy.healthz(dep["url"]):
        raise PointFailure("api_down", f"the API at {dep['url']} stopped answering /healthz")
    codes = facts["returncodes"]
    if any(c not in (0, 1) for c in codes) or not (pdir / "locust_stats.csv").exists():
        raise PointFailure("locust_error", f"locust exited with {codes}; see locust.log")
    if rows == [] and (load.pattern == "burst" or (load.rps or 0) * load.schedule_s >= 1):
        raise PointFailure("locust_error", "locust recorded no request; see locust.log")


def console_line(rec: dict[str, Any]) -> str:
    """One line per finished point: id, target and achieved RPS, p50, p99, failures."""

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f} ms"

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:g}"

    p = rec["params"]
    load = (
        f"rps {num(rec.get('target_rps'))} -> {num(rec.get('achieved_rps'))}"
        if p["pattern"] == "sustained"
        else f"burst {p['burst_size']}"
    )
    line = (
        f"point {rec['id']}: {rec['status']}  {load}  p50 {ms(rec.get('p50_ms'))}"
        f"  p99 {ms(rec.get('p99_ms'))}  failures {rec.get('failures', 0)}/{rec.get('requests', 0)}"
    )
    lg = rec.get("loadgen") or {}
    if lg.get("limited"):
        why = ", ".join(lg.get("limited_by", []))
        if lg.get("users_exhausted"):
            why += f"; all {lg['users']} users waiting on responses"
        line += f"  [load generator limited: {why}]"
    if rec["status"] != "ok":
        line += f"  [{rec['error_class']}: {rec['error']}]"
    return line


def run(
    sweep_name: str,
    point_id: str,
    params: dict[str, Any],
    settings: dict[str, Any],
    log_path: Path | None = None,
) -> dict[str, Any]:
    """Run one point into results/<sweep>/points/<id>/ and return its point.json record."""
    signal.signal(signal.SIGTERM, _sigterm)
    pdir = paths.point_dir(sweep_name, point_id)
    if pdir.exists():  # a crashed or interrupted run's partial directory
        shutil.rmtree(pdir)
    pdir.mkdir(parents=True)
    log = _Log(log_path)
    rec: dict[str, Any] = {
        "id": point_id,
        "sweep": sweep_name,
        "params": params,
        "status": "ok",
        "error_class": None,
        "error": None,
        "started_at": provenance.utc_now(),
    }
    ctx: dict[str, Any] = {}
    try:
        _measure(params, settings, pdir, ctx, log)
    except PointFailure as e:
        rec.update(status="failed", error_class=e.error_class, error=str(e))
        log(f"FAILED {e.error_class}: {e}")
    except Exception as e:
        rec.update(status="failed", error_class="internal_error", error=f"{type(e).__name__}: {e}")
        log(traceback.format_exc())
    summary = ctx.get("summary", {})
    st = ctx.get("status")
    if not st:
        try:
            st = testbed.status()
        except Exception:
            st = {}
    rec["ended_at"] = provenance.utc_now()
    rec.update(
        {
            "target_rps": summary.get("target_rps", params["rps"]),
            "achieved_rps": summary.get("achieved_rps"),
            "throughput_rps": summary.get("throughput_rps"),
            "requests": summary.get("requests", 0),
            "failures": summary.get("failures", 0),
            "p50_ms": summary.get("p50_ms"),
            "p99_ms": summary.get("p99_ms"),
            "loadgen": summary.get("loadgen"),
            "settings": {k: settings[k] for k in ("api", "loadgen", "ls_path") if k in settings},
            "provenance": provenance.collect(st, ctx.get("deployment")),
        }
    )
    if not (pdir / "requests.csv").exists():
        (pdir / "requests.csv").write_text(",".join(loadgen.REQUEST_FIELDS) + "\n")
    tmp = pdir / "point.json.tmp"
    tmp.write_text(json.dumps(rec, indent=1, default=str) + "\n")
    tmp.replace(pdir / "point.json")
    line = console_line(rec)
    log(line)
    log.close()
    print(line, flush=True)
    return rec


def teardown(log=print) -> None:
    """Stop the API and remove the testbed; each step runs even if the other fails."""
    errors = []
    try:
        api_deploy.stop(log)
    except Exception as e:
        errors.append(f"stopping the API: {e}")
    try:
        testbed.down()
        log(f"testbed {paths.testbed_name()}: down")
    except Exception as e:
        errors.append(f"testbed down: {e}")
    if errors:
        raise RuntimeError("teardown incomplete: " + "; ".join(errors))
