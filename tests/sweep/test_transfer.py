"""The transfer pattern end to end (issue 21 item 3): the shared ci sweep's transfer points
(experiments/ci.yaml, run once by tests/conftest.py's `ci_sweep` through Snakemake on the
local testbed): K concurrent downloads and uploads of small files through the API's Files
endpoints, two libraries; then their rows, their metrics and their claims."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import figures
from analysis.claims import evaluate, load_claims
from analysis.collect import read_tidy
from sshbench import paths
from sshbench.load import records
from sshbench.sweep import sweep

pytestmark = pytest.mark.netns

MIB = 1024 * 1024
POINTS = {
    pid: params
    for pid, params in sweep.expand(sweep.load(paths.EXPERIMENTS_DIR / "ci.yaml")).items()
    if params["pattern"] == "transfer"
}


@pytest.fixture(scope="module")
def xfer(ci_sweep: Path) -> Path:
    assert (ci_sweep / "tidy.csv").exists(), "the ci sweep wrote no tidy table"
    # every point removed its files (the downloaded one, the uploads) and its directory
    left = json.loads((ci_sweep.parent / "transfer-left.json").read_text())
    assert left == [], left
    return ci_sweep


def test_one_row_per_transfer_with_its_bytes(xfer: Path) -> None:
    assert len(POINTS) == 5
    for pid, params in POINTS.items():
        d = xfer / "points" / pid
        rec = json.loads((d / "point.json").read_text())
        assert rec["status"] == "ok", (pid, rec["error_class"], rec["error"])
        assert rec["integrity"] == "ok", (pid, rec["integrity"])
        size = round(params["transfer_size_mib"] * MIB)
        assert rec["transfer"]["size_bytes"] == size
        if params["direction"] == "download":
            assert len(rec["transfer"]["sha256"]) == 64
        rows = records.read_rows(d / "requests.csv")
        c = rec["counts"]
        # a row per transfer started: every one was sent, none missed, each answered once
        assert len(rows) == c["slots"] == c["sent"] == c["ok"] + c["failed"] >= 2
        assert c["missed"] == 0 and c["missed_rows"] == 0
        ok = [r for r in rows if r["outcome"] == records.OK]
        assert ok and len(ok) >= 0.9 * len(rows), rows[:3]
        for r in ok:
            assert int(r["response_length"]) == size, r
            assert r["name"] == params["direction"]
        # closed loop: a stream's next transfer is due when its last one ended
        assert len({(r["process"], r["slot"]) for r in rows}) == len(rows)


def test_throughput_and_cpu_per_mb_in_the_tidy_table(xfer: Path) -> None:
    tidy = read_tidy(xfer / "tidy.csv")
    for pid in POINTS:
        m = tidy[tidy["point_id"] == pid].set_index("metric")["value"]
        assert m["transfer_mb_per_s"] > 0, pid
        assert m["transfer_bytes"] > 0
        # bytes of whole transfers answered in the window
        size = round(POINTS[pid]["transfer_size_mib"] * MIB)
        assert m["transfer_bytes"] % size == 0
        assert m["demand_ms_per_mb_api"] > 0 and m["demand_ms_per_mb_host"] > 0
        assert m["stream_mb_per_s_mean"] > 0


CLAIMS = [
    c
    for c in load_claims(paths.PAPER_DIR / "claims.yaml")
    if c.id in ("ssh2_sftp_read_17x_faster_than_paramiko", "ssh2_suits_files_api")
]


def test_the_transfer_claims_are_evaluated(xfer: Path) -> None:
    assert len(CLAIMS) == 2
    details, summary = evaluate(CLAIMS, read_tidy(xfer / "tidy.csv"))
    assert set(summary["verdict"]) - {"not measured"}, summary.to_dict("records")
    ratio = details[details["claim_id"] == "ssh2_sftp_read_17x_faster_than_paramiko"]
    # one configuration (0.5 MiB x2, pooled): ssh2 / paramiko download MB/s with its CI
    assert len(ratio) == 1
    r = ratio.iloc[0]
    assert r["n_trials"] == 2 and 0 < r["ci_low"] <= r["value"] <= r["ci_high"], r.to_dict()
    assert r["verdict"] != "holds"  # 2 trials: never enough for a verdict either way
    assert "library=ssh2 / library=paramiko" in r["note"]
    versus = details[details["claim_id"] == "ssh2_suits_files_api"]
    down = versus[versus["group"].str.contains("download")].iloc[0]
    assert "vs library=paramiko" in down["group"]
    assert "transfer_mb_per_s ssh2/paramiko" in down["note"]
    assert "demand_ms_per_mb_api paramiko/ssh2" in down["note"]
    assert down["value"] > 0 and down["n_trials"] == 2
    # the upload was measured with ssh2 alone: nothing to compare it with
    up = versus[versus["group"].str.contains("upload")].iloc[0]
    assert up["verdict"] == "not measured"


def test_the_transfer_figure_draws_and_says_when_there_is_nothing(xfer, tmp_path) -> None:
    tidy = read_tidy(xfer / "tidy.csv")
    png, _ = figures.draw("fig10_transfer", tidy, tmp_path / "fig10.png")
    info = json.loads(png.with_suffix(".json").read_text())  # draw()'s record
    assert info["shown"] is True and png.stat().st_size > 10_000
    png, _ = figures.draw("fig10_transfer", tidy[tidy["pattern"] != "transfer"], tmp_path / "n.png")
    info = json.loads(png.with_suffix(".json").read_text())  # draw()'s record
    assert info["shown"] is False and "no transfer point" in info["why"]
