"""sshbench.sweep.progress: position and time left after each point, from the sweep's plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from measure.point import PointFiles
from sshbench import paths
from sshbench.sweep import progress


def _plan(n: int = 4, load_s: float = 12.0, overhead_s: float = 3.0) -> dict:
    points = [
        {"id": f"p{i}", "order": i, "load_s": load_s, "overhead_s": overhead_s} for i in range(n)
    ]
    return {"sweep": "t", "seed": 1, "points": points}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "done"),
        (-1, "done"),
        (59, "<1 min left"),
        (60, "~1 min left"),
        (185, "~3 min left"),
        (3569, "~59 min left"),
        (3600, "~1 h 00 min left"),
        (13440, "~3 h 44 min left"),
    ],
)
def test_left_text(seconds: float, text: str) -> None:
    assert progress.left_text(seconds) == text


def test_position_counts_the_point_just_finished_and_time_left_the_rest() -> None:
    plan = _plan(28, load_s=12.0, overhead_s=3.0)
    done = {f"p{i}" for i in range(11)}
    # 16 points left at 15 s each = 240 s
    assert progress.progress_text(plan, done, "p11") == "[12/28, ~4 min left]"


def test_last_point_says_done() -> None:
    plan = _plan(3)
    assert progress.progress_text(plan, {"p0", "p1"}, "p2") == "[3/3, done]"


def test_points_done_by_an_earlier_run_count_in_any_order() -> None:
    plan = _plan(4, load_s=100.0, overhead_s=20.0)
    # p3 and p1 finished before an interrupt; p0 just finished; p2 is left: 120 s
    assert progress.progress_text(plan, {"p3", "p1"}, "p0") == "[3/4, ~2 min left]"


def test_points_outside_the_plan_are_not_counted() -> None:
    plan = _plan(2)
    assert progress.progress_text(plan, {"old-point"}, "p0") == "[1/2, <1 min left]"


def test_durations_differ_per_point() -> None:
    plan = {
        "points": [
            {"id": "b", "order": 1, "load_s": 600.0, "overhead_s": 10.0},
            {"id": "a", "order": 0, "load_s": 5.0, "overhead_s": 5.0},
            {"id": "c", "order": 2, "load_s": 0.0, "overhead_s": 50.0},
        ]
    }
    assert progress.seconds_left(plan, {"a"}) == 660.0
    assert progress.progress_text(plan, set(), "b") == "[1/3, ~1 min left]"  # a + c: 60 s


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SSHBENCH_RESULTS", str(tmp_path))
    return tmp_path


def _finish(sweep: str, pid: str, status: str = "ok") -> None:
    d = paths.point_dir(sweep, pid)
    d.mkdir(parents=True)
    PointFiles(d).record.write_text(json.dumps({"id": pid, "params": {}, "status": status}))


def test_sweep_progress_reads_the_plan_and_the_points_dir(results: Path) -> None:
    plan = _plan(4, load_s=100.0, overhead_s=20.0)
    paths.sweep_dir("t").mkdir(parents=True)
    progress.plan_file("t").write_text(json.dumps(plan))
    _finish("t", "p0")
    _finish("t", "p1")
    paths.point_dir("t", "p2").mkdir()  # started, not finished: not done
    assert progress.sweep_progress("t", "p1") == "[2/4, ~4 min left]"


def test_no_plan_gives_no_text(results: Path) -> None:
    assert progress.sweep_progress("t", "p0") == ""
    paths.sweep_dir("t").mkdir(parents=True)
    progress.plan_file("t").write_text("{not json")
    assert progress.sweep_progress("t", "p0") == ""


def test_stop_and_finish_messages(results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths.sweep_dir("t").mkdir(parents=True)
    progress.plan_file("t").write_text(json.dumps(_plan(3, load_s=170.0, overhead_s=10.0)))
    _finish("t", "p0")
    text = progress.stopped_text("t", "make reproduce")
    assert "1 of 3 points finished and kept, ~6 min to go" in text
    assert text.endswith("run the same command again: make reproduce")
    _finish("t", "p1")
    _finish("t", "p2", status="failed")
    report = results / "report.html"
    assert progress.finished_text("t", report) == "sweep t: 3 of 3 points done (1 failed, 2 ok)"
    report.write_text("<html></html>")
    assert progress.finished_text("t", report) == (
        f"sweep t: 3 of 3 points done (1 failed, 2 ok); report: {report}"
    )
    monkeypatch.setenv(progress.RERUN_ENV, "make reproduce SWEEP=x.yaml")
    assert progress.rerun_command(["--cores", "2"]) == "make reproduce SWEEP=x.yaml"
    monkeypatch.delenv(progress.RERUN_ENV)
    assert (
        progress.rerun_command(["--configfile", "a b.yaml"]) == "snakemake --configfile 'a b.yaml'"
    )


def test_finished_text_without_a_plan(results: Path) -> None:
    assert progress.finished_text("t", results / "none.html") == "sweep t: nothing to report"
    assert progress.stopped_text("t", "x").startswith("sweep t stopped before the end (finished")


def test_console_log_is_under_the_sweeps_logs(results: Path) -> None:
    log = progress.console_log(paths.EXPERIMENTS_DIR / "ci.yaml")
    assert log == paths.sweep_logs_dir("ci") / "snakemake.log"


def test_a_capacity_search_is_done_when_its_record_exists(results: Path) -> None:
    plan = _plan(2, load_s=10.0, overhead_s=0.0)
    plan["points"].append({"id": "cap-x", "kind": "search", "order": 2, "load_s": 60.0})
    paths.sweep_dir("t").mkdir(parents=True)
    progress.plan_file("t").write_text(json.dumps(plan))
    _finish("t", "p0")
    _finish("t", "p1")
    assert progress.sweep_progress("t", "p1") == "[2/3, ~1 min left]"
    report = results / "none.html"
    assert progress.finished_text("t", report) == (
        "sweep t: 2 of 2 points done (2 ok), 0 of 1 capacity searches"
    )
    record = paths.SweepLayout.of("t").capacity_search("cap-x")
    record.parent.mkdir(parents=True)
    record.write_text("{}")
    assert progress.sweep_progress("t", "p1") == "[3/3, done]"
    assert progress.finished_text("t", report).endswith(
        "2 of 2 points done (2 ok), 1 of 1 capacity searches"
    )
