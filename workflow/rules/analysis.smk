# Analysis: collect -> figures -> tables and claims -> paper report.
#
# Cheap stage only: every rule here reads the finished point directories (or what was
# built from them) and never triggers a point to run again.
#
# Needs from common.smk (helper C): ANALYSIS_SWEEP_DIR (str, results/<sweep>) and
# point_json_files() -> list[str], every point.json of the sweep. The target list for
# `rule all` is analysis_targets(ANALYSIS_SWEEP_DIR). Each rule also takes its analysis code
# and templates as input (code_inputs), so editing a plot reruns that plot, never a point.

from analysis.captions import figure_caption
from analysis.layout import FIGURES, Layout, analysis_targets, code_inputs
from sshbench import paths


rule analysis_collect:
    input:
        points=point_json_files(),
        code=code_inputs("collect"),
    output:
        csv=Layout(ANALYSIS_SWEEP_DIR).tidy_csv,
        parquet=Layout(ANALYSIS_SWEEP_DIR).tidy_parquet,
    conda:
        "../../environment.yml"
    log:
        Layout(ANALYSIS_SWEEP_DIR).log("collect"),
    message:
        "Collecting every point of the sweep into one tidy table"
    script:
        "../scripts/analysis_collect.py"


rule analysis_figure:
    input:
        tidy=Layout(ANALYSIS_SWEEP_DIR).tidy_csv,
        code=code_inputs("figure"),
    output:
        png=report(
            Layout(ANALYSIS_SWEEP_DIR).figure("{figure}", "png"),
            category="Figures",
            caption="../../paper/captions/figure.rst",
        ),
        pdf=report(
            Layout(ANALYSIS_SWEEP_DIR).figure("{figure}", "pdf"),
            category="Figures (PDF)",
            caption="../../paper/captions/figure.rst",
        ),
    params:
        caption=figure_caption,
    wildcard_constraints:
        figure="|".join(FIGURES),
    conda:
        "../../environment.yml"
    log:
        Layout(ANALYSIS_SWEEP_DIR).log("figure_{figure}"),
    message:
        "Drawing figure {wildcards.figure}"
    script:
        "../scripts/analysis_figure.py"


rule analysis_paper_tables:
    input:
        tidy=Layout(ANALYSIS_SWEEP_DIR).tidy_csv,
        claims_file=str(paths.PAPER_DIR / "claims.yaml"),
        code=code_inputs("tables"),
    output:
        claims=report(
            Layout(ANALYSIS_SWEEP_DIR).claims_csv,
            category="Claims",
            caption="../../paper/captions/claims.rst",
        ),
        tables=Layout(ANALYSIS_SWEEP_DIR).table_outputs(),
    conda:
        "../../environment.yml"
    log:
        Layout(ANALYSIS_SWEEP_DIR).log("tables"),
    message:
        "Checking the study's claims and writing the paper tables"
    script:
        "../scripts/analysis_tables.py"


rule analysis_report:
    input:
        tidy=Layout(ANALYSIS_SWEEP_DIR).tidy_csv,
        claims=Layout(ANALYSIS_SWEEP_DIR).claims_csv,
        figures=Layout(ANALYSIS_SWEEP_DIR).figure_outputs(),
        tables=Layout(ANALYSIS_SWEEP_DIR).table_outputs(),
        code=code_inputs("report"),
    output:
        html=report(
            Layout(ANALYSIS_SWEEP_DIR).report_html,
            category="Reproduction report",
            caption="../../paper/captions/report.rst",
        ),
        md=Layout(ANALYSIS_SWEEP_DIR).report_md,
    conda:
        "../../environment.yml"
    log:
        Layout(ANALYSIS_SWEEP_DIR).log("report"),
    message:
        "Rendering the reproduction report"
    script:
        "../scripts/analysis_report.py"
