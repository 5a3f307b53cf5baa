"""Run one sweep point: testbed profile, API deployment, Locust load, point.json.

A point never raises for a failure of the system under test: it records `status: failed`
with an `error_class` (testbed_error, api_down, sshd_died, locust_error, worker_lost,
internal_error)
and the sweep goes on. `point.json` is written last and atomically, so a point directory
with a point.json is final and one without it is a crashed run's leftover (removed here).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from measure.point import PointFiles, PointRecord
from sshbench import paths
from sshbench.deploy import api_deploy
from sshbench.load import loadgen, loadgen_remote, records, resources, transfer
from sshbench.redact import redact
from sshbench.sweep import progress, provenance, sweep
from sshbench.testbed import testbed


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
    burst = params["pattern"] == "burst"
    made = deployment.get("transfer") or {}
    return loadgen.Load(
        url=deployment["url"],
        token=deployment["token"],
        cred=deployment["credentials"][params["host"]],
        command=params["command"],
        pattern=params["pattern"] if params["pattern"] in ("burst", "transfer") else "sustained",
        rps=params["rps"],
        burst_size=params["burst_size"],
        schedule_s=0.0 if burst else (params["warmup_s"] + params["duration_s"]),
        warmup_s=params["warmup_s"] or 0.0,
        users=sweep.users_for(params, lg),
        processes=lg["processes"],
        ls_path=settings.get("ls_path", "/"),
        timeout_s=lg["request_timeout_s"],
        hosts=list(lg.get("hosts") or []),
        inventory=settings["inventory"],
        direction=params.get("direction") or "download",
        size_bytes=int(made.get("size_bytes") or 0),
        remote_file=made.get("file", ""),
        remote_dir=made.get("dir", ""),
    )


def _host_reader(host: str):
    """Reads the host's cgroup CPU counters during the load (None: not readable, a real VM)."""

    def read() -> dict[str, float] | None:
        try:
            counters = testbed.host_cpu_counters(host)
        except testbed.TestbedError:
            return None
        return counters if counters.get("cpu_s") is not None else None

    return read


def prepare_host(params: dict[str, Any], log) -> dict[str, Any]:
    """The point's host CPUs and the client's TCP mode in force; what was applied."""
    applied = {
        "host_cpus": testbed.set_host_cpus(params["host"], float(params["host_cpus"])),
        "client_tcp": testbed.set_client_tcp(params["client_tcp"]),
    }
    for what, res in applied.items():
        if res.get("changed"):
            log(f"testbed: {what} -> {params[what]}")
    return applied


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
    try:  # the sshd settings in force are the profile's (~50 ms: sshd -T)
        ctx["applied"] = {
            "sshd": testbed.check_profile(
                params["host"], host, params["profile"], settings.get("sshd_profiles")
            )
        }
    except testbed.TestbedError as e:
        raise PointFailure("testbed_error", f"sshd profile not in force: {e}") from None
    if params["pattern"] == "auth":  # the library alone: no API, no Locust
        _measure_auth(params, host, pdir, ctx, log)
        return
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
    try:
        ctx["applied"].update(prepare_host(params, log))
    except testbed.TestbedError as e:
        raise PointFailure("testbed_error", str(e)) from None
    made = None
    if params["pattern"] == "transfer":
        cred = dep["credentials"][params["host"]]
        try:
            made = transfer.prepare(dep, cred, params, pdir.name)
        except (transfer.TransferSetupError, OSError) as e:
            raise PointFailure("testbed_error", f"transfer files: {e}") from None
        log(f"transfer: {made['direction']} {made['size_bytes']} bytes in {made['dir']}")
    try:
        _load(params, settings, pdir, ctx, log, dep, host, made)
    finally:
        if made is not None:
            transfer.cleanup(
                dep,
                dep["credentials"][params["host"]],
                made,
                settings["loadgen"]["processes"],
                int(params["streams"]),
            )
            ctx.setdefault("facts", {})["transfer"] = made


def _load(
    params: dict[str, Any],
    settings: dict[str, Any],
    pdir: Path,
    ctx: dict[str, Any],
    log,
    dep: dict[str, Any],
    host: dict[str, Any],
    made: dict[str, Any] | None,
) -> None:
    """Run the point's load and check what it left (the API, sshd, Locust)."""
    load = make_load(params, settings, {**dep, "transfer": made})
    offset = _api_log_offset()
    log(f"locust: {load.pattern} rps={load.rps} burst={load.burst_size} users={load.users}")
    try:
        ctx["facts"] = facts = loadgen.run(
            load,
            pdir,
            log,
            api_pid=dep.get("pid"),
            host=params["host"],
            host_reader=_host_reader(params["host"]),
            host_cpus=float(params["host_cpus"]),
            host_memory=resources.HostMemory.of_provenance(host.get("provenance")),
        )
    except loadgen_remote.RemoteLoadError as e:
        raise PointFailure("locust_error", str(e)) from None
    files = PointFiles(pdir)
    _copy_api_log(offset, files.api_log)
    _check_sshd(params["host"], host)
    if not api_deploy.healthz(dep["url"]):
        raise PointFailure("api_down", f"the API at {dep['url']} stopped answering /healthz")
    lost = facts["loadgen"].get("workers_lost")
    if lost:
        raise PointFailure(
            "worker_lost",
            f"Locust worker {', '.join(lost)} ended before the point did "
            f"(see locust-worker-{lost[0]}.log)",
        )
    codes = facts["returncodes"]
    if any(c not in (0, 1) for c in codes) or not files.locust_stats.exists():
        raise PointFailure("locust_error", f"locust exited with {codes}; see locust.log")
    if not facts["counts"]["sent"] and facts["schedule"]["slots"]:
        raise PointFailure("locust_error", "locust sent no request; see locust.log")


def _measure_auth(
    params: dict[str, Any], host: dict[str, Any], pdir: Path, ctx: dict[str, Any], log
) -> None:
    """An auth point: sequential logins with the point's library (sshbench.load.authtime)."""
    from sshapi.errors import SSHFailure
    from sshbench.load import authtime  # the SSH libraries and the API's store: auth points only

    try:
        ctx["applied"].update(prepare_host(params, log))
        target = authtime.target_of(params["host"], host)
    except (testbed.TestbedError, OSError) as e:
        raise PointFailure("testbed_error", str(e)) from None
    # Sampled like a load point; the "generator" is this process, which does the logins.
    sampler = resources.Sampler(
        None,
        [os.getpid()],
        params["host"],
        _host_reader(params["host"]),
        resources.HostMemory.of_provenance(host.get("provenance")),
    )
    try:
        with sampler.every(loadgen.SAMPLE_S):
            ctx["facts"] = authtime.run(params["library"], target, int(params["logins"]), pdir, log)
    except SSHFailure as e:  # the warm-up login failed: no row was due yet
        raise PointFailure(e.code, f"warm-up login: {e}") from None
    finally:
        ctx.setdefault("facts", {})["resources"] = sampler.record(
            loadgen.SAMPLE_S, float(params["host_cpus"])
        )
    _check_sshd(params["host"], host)


def _check_sshd(name: str, host: dict[str, Any]) -> None:
    if not testbed.sshd_alive(host):
        raise PointFailure("sshd_died", f"sshd of {name} (PID {host.get('sshd_pid')}) died")


def console_line(rec: dict[str, Any], summary: dict[str, Any], progress: str = "") -> str:
    """One line per finished point: rates, latency from the schedule (and service time),
    failures, what ran out, whether the counts add up."""

    def ms(x: float | None) -> str:
        if x is None or x != x:
            return "-"
        return "inf" if x == float("inf") else f"{x:.0f} ms"

    def num(x: float | None) -> str:
        return "-" if x is None or x != x else f"{x:.3g}"

    p = rec["params"]
    if p["pattern"] == "burst":
        load = f"burst {p['burst_size']}"
    elif p["pattern"] == "auth":
        load = f"auth {p['logins']} logins"
    elif p["pattern"] == "transfer":
        load = (
            f"{p['direction']} {num(p['transfer_size_mib'])} MiB x{p['streams']}"
            f" -> {num(summary.get('transfer_mb_per_s'))} MB/s"
        )
    else:
        load = f"rps {num(summary.get('target_rps'))} -> {num(summary.get('achieved_rps'))}"
    line = (
        f"point {rec['id']}: {rec['status']}  {load}"
        f"  p50 {ms(summary.get('latency_p50'))}  p99 {ms(summary.get('latency_p99'))}"
        f" (service p99 {ms(summary.get('service_p99'))})"
        f"  failures {summary.get('failures', 0)}/{summary.get('sent', 0)}"
    )
    if summary.get("missed"):
        line += f"  missed {summary['missed']}"
    if summary.get("saturation"):
        line += f"  [{summary['saturation']}]"
    if rec.get("integrity", "ok") != "ok":
        line += f"  [counts {rec['integrity']}]"
    if rec["status"] != "ok":
        line += f"  [{rec['error_class']}: {rec['error']}]"
    return f"{line}  {progress}".rstrip()


def summarise(pdir: Path, log) -> dict[str, Any]:
    """The console's numbers, computed by the analysis (never here); {} if it cannot."""
    from measure.metrics import summarise_point  # the analysis owns every metric

    try:
        return summarise_point(pdir)
    except Exception as e:  # the point is recorded already; a summary is a courtesy
        log(f"no summary: {type(e).__name__}: {e}")
        return {}


# Failures of the harness, not of the system under test: a point that fails so is rerun once
# (its first attempt recorded in point.json `attempts`). api_down and sshd_died are evidence
# about the system under test and are never rerun.
HARNESS_ERRORS = ("testbed_error", "locust_error", "worker_lost", "internal_error")
ATTEMPTS = 2


def _attempt(
    sweep_name: str,
    point_id: str,
    params: dict[str, Any],
    settings: dict[str, Any],
    pdir: Path,
    log,
) -> dict[str, Any]:
    """One attempt at a point into `pdir`: the point.json record (not written yet)."""
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
    facts = ctx.get("facts") or {}
    st = ctx.get("status")
    if not st:
        try:
            st = testbed.status()
        except Exception:
            st = {}
    rec["ended_at"] = provenance.utc_now()
    rec.update(
        {
            "schedule": facts.get("schedule"),
            "counts": facts.get("counts"),
            "integrity": facts.get("integrity", "no load ran"),
            "loadgen": {
                **(facts.get("loadgen") or {}),
                "returncodes": facts.get("returncodes"),
                "wall_s": facts.get("wall_s"),
            },
            "resources": facts.get("resources"),
            **({"transfer": facts["transfer"]} if facts.get("transfer") else {}),
            "applied": ctx.get("applied"),
            "settings": {k: settings[k] for k in sweep.RUN_SETTING_KEYS if k in settings},
            "provenance": provenance.collect(st, ctx.get("deployment")),
        }
    )
    return rec


def _set_aside(pdir: Path, n: int) -> None:
    """Move attempt n's files into pdir/attempt-<n>/ (kept for a look; the analysis reads
    only the point's own files)."""
    dest = PointFiles(pdir).attempt(n)
    dest.mkdir()
    for f in pdir.iterdir():
        if f.is_file():
            f.replace(dest / f.name)


def run(
    sweep_name: str,
    point_id: str,
    params: dict[str, Any],
    settings: dict[str, Any],
    log_path: Path | None = None,
) -> dict[str, Any]:
    """Run one point into results/<sweep>/points/<id>/ and return its point.json record.

    A harness failure (HARNESS_ERRORS) is rerun once; the record's `attempts` lists the
    earlier attempts. Ctrl-C before the record is written discards the point (its directory
    is removed, it runs again next time); once written, the point is kept: if a Ctrl-C
    reached the job after that, the record's second name (PointFiles.kept) stays, and the rerun
    Snakemake asks for (it marks a job cut by Ctrl-C incomplete) restores the record
    instead of measuring again. After a normal end the second name is removed."""
    signal.signal(signal.SIGTERM, _sigterm)
    pdir = paths.SweepLayout.of(sweep_name).point(point_id)
    log = _Log(log_path)
    kept = _restore_kept(pdir, params, settings)
    if kept is not None:
        line = (
            f"point {point_id}: {kept['status']}, kept from the run Ctrl-C stopped (not run again)"
        )
        log(line)
        log.close()
        print(line, flush=True)
        return kept
    if pdir.exists():  # a crashed or interrupted run's partial directory
        shutil.rmtree(pdir)
    pdir.mkdir(parents=True)
    attempts: list[dict[str, Any]] = []
    try:
        while True:
            rec = _attempt(sweep_name, point_id, params, settings, pdir, log)
            if rec["error_class"] not in HARNESS_ERRORS or len(attempts) + 1 >= ATTEMPTS:
                break
            attempts.append({k: rec[k] for k in ("error_class", "error", "started_at", "ended_at")})
            log(f"harness failure ({rec['error_class']}): running the point again")
            print(
                f"point {point_id}: {rec['error_class']} (a harness failure): running it again",
                flush=True,
            )
            _set_aside(pdir, len(attempts))
        rec["attempts"] = attempts
        if not PointFiles(pdir).requests.exists():
            records.write_empty(PointFiles(pdir).requests)
    except (
        KeyboardInterrupt,
        SystemExit,
    ):  # Ctrl-C (or SIGTERM) before the record: nothing of this point is kept
        shutil.rmtree(pdir, ignore_errors=True)
        line = f"point {point_id}: cut by Ctrl-C, discarded (it runs again next time)"
        log(line)
        log.close()
        print(line, flush=True)
        raise
    write_record(pdir, rec)
    with _ctrl_c_noted() as got:  # kept from here on: Ctrl-C no longer cuts the point
        line = console_line(rec, summarise(pdir, log), progress_note(sweep_name, point_id))
        log(line)
        print(line, flush=True)
        if got:  # Snakemake will think this job incomplete: the second name restores it
            _INTERRUPTED.append(point_id)
            log("Ctrl-C after the record: kept (its second name restores it if asked again)")
        else:  # a normal end: a later rerun (--forcerun, a code change) measures again
            PointFiles(pdir).kept.unlink(missing_ok=True)
    log.close()
    return rec


_INTERRUPTED: list[str] = []  # points of this process that a Ctrl-C reached after their record


def interrupted() -> bool:
    """Whether a Ctrl-C reached a point of this process after its record was written (the
    point is kept; a caller running more points, the capacity search, must stop)."""
    return bool(_INTERRUPTED)


@contextlib.contextmanager
def _ctrl_c_noted() -> Iterator[list[int]]:
    """Inside the block, a Ctrl-C (SIGINT) is noted in the yielded list, not raised."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return
    old = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield got
    finally:
        signal.signal(signal.SIGINT, old)


def _restore_kept(
    pdir: Path, params: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any] | None:
    """A record this point wrote before Ctrl-C stopped the sweep, if it is still there and
    was measured with the same parameters and settings. Snakemake removes a job's output
    before it runs the job again, but not the record's second name (PointFiles.kept)."""
    files = PointFiles(pdir)
    try:
        rec = PointRecord.from_dict(json.loads(files.kept.read_text()), files.kept)
    except (OSError, ValueError):
        return None
    same = {k: settings[k] for k in sweep.RUN_SETTING_KEYS if k in settings}
    # The record holds its settings redacted (write_record): compare them as written, or a
    # setting with a secret (a database URL with its password) never matches.
    if rec.params != params or rec.settings != json.loads(json.dumps(redact(same))):
        return None
    if not files.record.exists():
        os.link(files.kept, files.record)
    return rec.to_dict()


def write_record(pdir: Path, rec: dict[str, Any]) -> None:
    """point.json, atomically: a point directory with a point.json is final. Its second
    name (PointFiles.kept, a hard link) is made in the same step, with Ctrl-C held off, so the
    two never disagree. The record is checked as it will be read (measure.point)."""
    files = PointFiles(pdir)
    tmp = files.record_tmp
    tmp.write_text(PointRecord.from_dict(redact(rec), files.record).to_json())
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        files.kept.unlink(missing_ok=True)
        os.link(tmp, files.kept)
        tmp.replace(files.record)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def progress_note(sweep_name: str, point_id: str) -> str:
    """`[12/28, ~3 min left]` from the sweep's plan, when there is one."""
    try:
        return progress.sweep_progress(sweep_name, point_id)
    except (OSError, ValueError, KeyError):
        return ""


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
