"""One layout of a sweep (sshbench.paths.SweepLayout), and code inputs that follow imports."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.codedeps import code_files, code_inputs
from sshbench import paths
from sshbench.paths import FIGURES, TABLES, SweepLayout


def test_the_old_path_functions_are_the_layouts(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SSHBENCH_RESULTS", str(tmp_path))
    lay = SweepLayout.of("quick")
    assert lay == SweepLayout(tmp_path / "quick")
    assert paths.sweep_dir("quick") == lay.root == tmp_path / "quick"
    assert paths.point_dir("quick", "r10-x") == lay.point("r10-x") == lay.points / "r10-x"
    assert paths.sweep_logs_dir("quick") == lay.logs


def test_every_output_is_inside_the_sweep_and_named_once(tmp_path: Path) -> None:
    lay = SweepLayout(tmp_path / "s")
    outs = lay.all_outputs()
    assert len(outs) == len(set(outs))
    assert all(p.is_relative_to(lay.root) for p in outs)
    for stem in FIGURES:
        for ext in ("png", "pdf", "json"):
            assert lay.figure(stem, ext) in outs
    for stem in TABLES:
        assert lay.table(stem, "tex") in outs
    assert lay.claims in outs and lay.claims not in lay.table_outputs()
    assert lay.log("collect") == lay.root / "logs" / "analysis" / "collect.log"
    # a wildcard pattern stays a pattern (the figure rule's output)
    assert str(lay.figure("{figure}", "png")).endswith("figures/{figure}.png")


def _write(root: Path, rel: str, text: str = "") -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_code_inputs_follow_the_import_graph(tmp_path: Path) -> None:
    """A made-up package tree: only what the script imports (transitively) is its code."""
    _write(tmp_path, "pkg/__init__.py")
    _write(tmp_path, "pkg/a.py", "from pkg.b import thing\nimport json\n")
    _write(tmp_path, "pkg/b.py", "def thing():\n    from pkg import c\n")  # lazy import
    _write(tmp_path, "pkg/c.py", "from . import d\n")  # relative import
    _write(tmp_path, "pkg/d.py")
    _write(tmp_path, "pkg/unused.py")
    _write(tmp_path, ".venv/lib/pkg2/x.py")
    script = _write(tmp_path, "scripts/run.py", "import pkg.a\nimport numpy\n")
    got = {p.relative_to(tmp_path).as_posix() for p in code_files(script, tmp_path)}
    assert got == {
        "scripts/run.py",
        "pkg/__init__.py",
        "pkg/a.py",
        "pkg/b.py",
        "pkg/c.py",
        "pkg/d.py",
    }


def test_each_analysis_rule_depends_on_the_modules_it_imports() -> None:
    scripts = paths.WORKFLOW_DIR / "scripts"
    figure = {Path(p).name for p in code_inputs(scripts / "analysis_figures.py")}
    tables = {Path(p).name for p in code_inputs(scripts / "analysis_tables.py")}
    collect = {Path(p).name for p in code_inputs(scripts / "analysis_collect.py")}
    assert {"figures.py", "select.py", "common.py", "analysis_figures.py"} <= figure
    assert {"claims.py", "claims_spec.py", "tables.py"} <= tables
    assert "report.py" not in figure | tables and "claims.py" not in figure
    assert "collect.py" in collect and "figures.py" not in collect
    assert all(Path(p).is_file() for p in code_inputs(scripts / "analysis_report.py"))


@pytest.mark.parametrize("name", ["analysis_collect", "analysis_figures", "analysis_tables"])
def test_the_rules_take_code_inputs_from_the_import_graph(name: str) -> None:
    text = (paths.WORKFLOW_DIR / "rules" / "analysis.smk").read_text()
    assert f'code=code_inputs(SCRIPTS / "{name}.py")' in text
