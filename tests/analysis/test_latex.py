"""The LaTeX tables compile inside a minimal document with pdflatex and booktabs.

`make test` installs Debian's texlive-latex-base and texlive-latex-recommended (booktabs) via
`scripts/setup-system.sh --test`; without them the compile check fails rather than skip, so
it cannot go unchecked unnoticed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from analysis.tables import latex_escape, to_latex
from sshbench.paths import SweepLayout


def test_latex_escape() -> None:
    assert latex_escape("p_99 & 5% ~ {x} #1 $") == (r"p\_99 \& 5\% \textasciitilde{} \{x\} \#1 \$")


def test_table_snippet_is_booktabs_and_escaped() -> None:
    tex = to_latex(pd.DataFrame({"host": ["ta_co"], "p99 (ms)": [12.5]}), "percentiles")
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"ta\_co & 12.5 \\" in tex
    assert r"\begin{tabular}{lr}" in tex


def test_empty_table_says_not_measured() -> None:
    tex = to_latex(pd.DataFrame(columns=["rps", "p50"]), "percentiles")
    assert "not measured by this sweep" in tex


def test_tables_compile_with_pdflatex(ci_sweep: Path, tmp_path: Path) -> None:
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.fail(
            "pdflatex is not installed: run `scripts/setup-system.sh --test` (Debian's "
            "texlive-latex-base and texlive-latex-recommended)"
        )
    tables = sorted(SweepLayout(ci_sweep).paper.glob("*.tex"))
    assert tables
    body = "\n".join(rf"\input{{{t}}}" for t in tables)
    doc = tmp_path / "doc.tex"
    doc.write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage[T1]{fontenc}\n"
        f"\\begin{{document}}\n{body}\n\\end{{document}}\n"
    )
    out = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert (tmp_path / "doc.pdf").exists()


def test_whole_numbers_prints_rates_as_integers_and_leaves_text_alone() -> None:
    from analysis.tables import whole_numbers

    df = pd.DataFrame({"host": ["taco", "jet"], "rps": [10.0, None], "p50": [81.5, 80.0]})
    out = whole_numbers(df)
    assert out["rps"].tolist()[0] == 10 and str(out["rps"].dtype) == "Int64"
    assert out["p50"].dtype == float and out["host"].tolist() == ["taco", "jet"]
