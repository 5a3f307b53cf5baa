# Analysis: collect -> figures -> tables and claims -> paper report.
#
# Cheap stage only: every rule here reads the finished point directories (or what was
# built from them) and never triggers a point to run again.
#
# Needs from common.smk: ANALYSIS_SWEEP_DIR (str, results/<sweep>) and point_json_files().
# Every path comes from sshbench.paths.SweepLayout. Each rule's `code` input is its
# script's import graph inside the repository (analysis.codedeps), so editing a module a
# step really imports reruns that step, and nothing else.

from analysis.captions import write_report_captions
from analysis.codedeps import code_inputs
from sshbench import paths
from sshbench.paths import FIGURES, SweepLayout, analysis_targets

LAYOUT = SweepLayout(ANALYSIS_SWEEP_DIR)
SCRIPTS = paths.WORKFLOW_DIR / "scripts"
TEMPLATES = paths.PAPER_DIR / "templates"
# Each figure's caption in `snakemake --report` (analysis.captions' text, one file each).
FIGURE_CAPTIONS = write_report_captions(LAYOUT.figures / "captions")


rule analysis_collect:
    input:
        points=point_json_files(),
        searches=capacity_files(),
        code=code_inputs(SCRIPTS / "analysis_collect.py"),
    output:
        csv=LAYOUT.tidy,
        parquet=LAYOUT.tidy_parquet,
        provenance=LAYOUT.provenance,
        provenance_parquet=LAYOUT.provenance_parquet,
    conda:
        "../../environment.yml"
    log:
        LAYOUT.log("collect"),
    message:
        "Collecting every point of the sweep into one tidy table"
    script:
        "../scripts/analysis_collect.py"


# Every figure in one job: a job per figure would start a Python process per figure, each
# importing matplotlib, pandas and scipy (most of a figure's cost).
rule analysis_figures:
    input:
        tidy=LAYOUT.tidy,
        claims_file=paths.PAPER_DIR / "claims.yaml",  # the study's marks (reference:)
        code=code_inputs(SCRIPTS / "analysis_figures.py"),
    output:
        png=[
            report(
                LAYOUT.figure(stem, "png"),
                category="Figures",
                caption=str(FIGURE_CAPTIONS[stem]),
            )
            for stem in FIGURES
        ],
        pdf=[
            report(
                LAYOUT.figure(stem, "pdf"),
                category="Figures (PDF)",
                caption=str(FIGURE_CAPTIONS[stem]),
            )
            for stem in FIGURES
        ],
        shown=[LAYOUT.figure(stem, "json") for stem in FIGURES],
    conda:
        "../../environment.yml"
    log:
        LAYOUT.log("figures"),
    message:
        "Drawing the figures"
    script:
        "../scripts/analysis_figures.py"


rule analysis_model:
    input:
        tidy=LAYOUT.tidy,
        provenance=LAYOUT.provenance,
        claims_file=paths.PAPER_DIR / "claims.yaml",
        templates=[
            TEMPLATES / "_projection_section.html.j2",
            TEMPLATES / "_projection_section.md.j2",
        ],
        code=code_inputs(SCRIPTS / "analysis_model.py"),
    output:
        LAYOUT.model_outputs(),
    conda:
        "../../environment.yml"
    log:
        LAYOUT.log("model"),
    message:
        "Fitting demands, validating the model and projecting onto the study's hardware"
    script:
        "../scripts/analysis_model.py"


rule analysis_paper_tables:
    input:
        tidy=LAYOUT.tidy,
        provenance=LAYOUT.provenance,
        projection=LAYOUT.model_file("projection.csv"),
        claims_file=paths.PAPER_DIR / "claims.yaml",
        template=TEMPLATES / "table.tex.j2",
        code=code_inputs(SCRIPTS / "analysis_tables.py"),
    output:
        claims=report(
            LAYOUT.claims,
            category="Claims",
            caption="../../paper/captions/claims.rst",
        ),
        tables=LAYOUT.table_outputs(),
    conda:
        "../../environment.yml"
    log:
        LAYOUT.log("tables"),
    message:
        "Checking the study's claims and writing the paper tables"
    script:
        "../scripts/analysis_tables.py"


rule analysis_report:
    input:
        tidy=LAYOUT.tidy,
        provenance=LAYOUT.provenance,
        claims=LAYOUT.claims,
        figures=LAYOUT.figure_outputs(),
        tables=LAYOUT.table_outputs(),
        claims_file=paths.PAPER_DIR / "claims.yaml",
        model=LAYOUT.model_outputs(),
        templates=[
            TEMPLATES / "report.html.j2",
            TEMPLATES / "report.md.j2",
            TEMPLATES / "report.css",
            TEMPLATES / "_projection.html.j2",
            TEMPLATES / "_projection.md.j2",
        ],
        code=code_inputs(SCRIPTS / "analysis_report.py"),
    output:
        html=report(
            LAYOUT.report_html,
            category="Reproduction report",
            caption="../../paper/captions/report.rst",
        ),
        md=LAYOUT.report_md,
        summary=LAYOUT.figure("summary_claims", "png"),
    conda:
        "../../environment.yml"
    log:
        LAYOUT.log("report"),
    message:
        "Rendering the reproduction report"
    script:
        "../scripts/analysis_report.py"
