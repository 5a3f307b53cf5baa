"""benchmarks/bench_libraries.py for real, with small counts: every Python backend and the
Java client (Debian's JSch, run with the JRE) against a real sshd, each call checked."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import subprocess
from pathlib import Path

import pytest


def _bench(benchmarks: Path):
    spec = importlib.util.spec_from_file_location(
        "bench_libraries", benchmarks / "bench_libraries.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check(row: dict, calls: int) -> None:
    assert row["failures"] == 0, (row["client"], row["mode"], row.get("first_error"))
    assert row["calls"] == calls, row
    assert 0 < row["p50_ms"] <= row["p99_ms"], row
    assert row["cpu_ms_per_call"] > 0 and row["calls_per_s"] > 0, row


def test_jsch_client_connects_reuses_and_times_auth(sshd, tmp_path, require, benchmark):
    bench = _bench(benchmark)
    why = bench.java_missing()
    require(not why, f"no JRE with JSch here ({why}); the Java client cannot run")
    per_call = bench.run_jsch("connect", 1, 3, sshd, tmp_path)
    _check(per_call, 3)
    assert per_call["version"].startswith("jsch 0.1.")
    # JSch 0.1.55 knows no curve25519: ECDH over NIST P-256 against OpenSSH 9.2
    assert per_call["kex"] and per_call["kex"].startswith("ecdh-sha2-nistp"), per_call
    assert len(per_call["auth_ms"]) == 3 and all(0 < a < 10_000 for a in per_call["auth_ms"])
    reused = bench.run_jsch("reused", 2, 3, sshd, tmp_path)
    _check(reused, 6)


def test_jsch_refuses_a_host_key_it_was_not_given(sshd, tmp_path, require, benchmark):
    """The Java client pins the host key too: a wrong known_hosts line fails every call."""
    bench = _bench(benchmark)
    why = bench.java_missing()
    require(not why, f"no JRE with JSch here ({why})")
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-b", "256", "-N", "", "-f",
                    str(tmp_path / "other")], check=True)  # fmt: skip
    kind, b64 = (tmp_path / "other.pub").read_text().split()[:2]
    wrong = dataclasses.replace(sshd, ecdsa_host_key=f"[{sshd.host}]:{sshd.port} {kind} {b64}")
    with pytest.raises(RuntimeError, match="JschBench"):
        bench.run_jsch("connect", 1, 1, wrong, tmp_path)


def test_bench_main_runs_every_client_and_reports_the_auth_ratio(tmp_path, capsys, benchmark):
    bench = _bench(benchmark)
    out = tmp_path / "libs.json"
    clients = [c for c in bench.CLIENTS if c != "jsch" or not bench.java_missing()]
    rc = bench.main(["--clients", *clients, "--threads", "2", "--calls", "2",
                     "--auth-calls", "2", "--json", str(out)])  # fmt: skip
    assert rc == 0
    result = json.loads(out.read_text())
    rows = {(r["client"], r["mode"]): r for r in result["rows"]}
    assert set(rows) == {(c, m) for c in clients for m in bench.MODES}
    for row in rows.values():
        _check(row, 4)
    # every client says which key exchange it negotiated (pooled ssh keeps its master quiet)
    for client in clients:
        assert rows[(client, "connect")]["kex"], rows[(client, "connect")]
    assert set(result["auth_ms"]) == {c for c in bench.AUTH_LIBRARIES if c in clients}
    assert all(len(v) == 2 and all(0 < a < 10_000 for a in v) for v in result["auth_ms"].values())
    text = capsys.readouterr().out
    ratio = [ln for ln in text.splitlines() if ln.startswith("Paramiko auth p50 / ssh2")]
    assert len(ratio) == 1 and not math.isnan(float(ratio[0].split("=")[1].split()[0]))
