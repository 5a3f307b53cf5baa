"""benchmarks/bench_libraries.py --sftp for real, with small files: every Python SFTP client
and the OpenSSH tools move checksummed files both ways against a real sshd, each row says
its cipher, and the physical limits and the ssh2/Paramiko read ratio are reported."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path


def _bench(benchmarks: Path):
    spec = importlib.util.spec_from_file_location(
        "bench_libraries", benchmarks / "bench_libraries.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sftp_bench_moves_checksummed_files_with_every_client(tmp_path, capsys, benchmark):
    bench = _bench(benchmark)
    out = tmp_path / "sftp.json"
    rc = bench.main(["--sftp", "--sizes", "0.5", "--streams", "1", "2", "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    rows = {(r["client"], r["direction"], r["streams"]): r for r in result["rows"]}
    clients = [c for c in bench.SFTP_CLIENTS if c != "jsch" or not bench.java_missing()]
    assert set(rows) == {(c, d, k) for c in clients for d in bench.DIRECTIONS for k in (1, 2)}
    for key, r in rows.items():
        assert r["errors"] == [] and r["checksum_ok"] == r["streams"], (key, r)
        assert r["mb_per_s"] > 0 and r["cpu_ms_per_mb"] > 0, (key, r)
        assert r["cipher"], (key, r)  # every client says what it negotiated
    limits = result["limits"]
    assert limits["tcp_loopback_mb_per_s"] > 0
    assert limits["cipher_mb_per_s"] and all(v > 0 for v in limits["cipher_mb_per_s"].values())
    ratios = result["read_ratio_ssh2_over_paramiko"]
    assert {(r["paramiko"], r["streams"]) for r in ratios} == {
        (p, k) for p in ("paramiko", "paramiko-naive") for k in (1, 2)
    }
    assert all(r["ratio"] > 0 and not math.isnan(r["ratio"]) for r in ratios)
    text = capsys.readouterr().out
    assert "ssh2-python / paramiko SFTP read MB/s" in text and "openssl speed" in text


def test_a_transfer_that_fails_is_reported_not_counted(tmp_path, benchmark):
    """A client that cannot read the file gives an error and NaN, never a speed."""
    bench = _bench(benchmark)
    from sshapi.testing import running_sshd

    with running_sshd(tmp_path / "sshd", extra_config=bench.SFTP_SUBSYSTEM) as sshd:
        row = bench.run_transfer("ssh2", "read", 1000, 1, sshd, tmp_path, ("/root/nope", "0"))
    assert row["checksum_ok"] == 0 and row["errors"], row
    assert math.isnan(row["mb_per_s"]) and math.isnan(row["cpu_ms_per_mb"])
