"""Titles and captions of the figures (light: the workflow imports it to caption
`snakemake --report` entries without loading matplotlib)."""

from __future__ import annotations

from pathlib import Path

from analysis.claims_spec import study_reference

# The study's numbers in the captions: paper/claims.yaml `reference:`.
_REF = study_reference()
_MARKS = ", ".join(label.removeprefix("study: ") for *_, label in _REF.marks)

TITLES = {
    "fig1_load_percentiles": "Load test results for SSH API",
    "fig1b_load_variants": "Load test results per host, sshd profile and command",
    "fig2_mean_response_by_host": "Average response times on both VMs",
    "fig3_sshd_profiles": "sshd default vs tuned: successes and failures",
    "fig4_libraries_and_modes": "SSH libraries and connection modes",
    "fig5_target_vs_achieved_rps": "Target vs achieved request rate",
    "fig6_variability": "Variability across trials",
    "fig7_cpu_per_request": "Where each request's CPU goes",
    "fig8_capacity": "Capacity at the latency bound",
    "fig10_transfer": "File transfers through the API per SSH library",
}

CAPTIONS = {
    "fig1_load_percentiles": "The study's load-test figure, drawn as the study drew it: "
    "latency at each percentile of requests (50 to 100 %), one line per target request rate "
    "(light to dark as the rate rises), for the study's configuration (ssh2-python, a new SSH "
    "connection per request, constant rate). Latency runs from each request's intended send "
    "time in the schedule; a failed or never-sent request is not answered, so a percentile "
    "that lands on one is drawn as a triangle on the 'not answered' strip at the top, never "
    "dropped (a trial mean that meets one is not answered too, so every line only rises). "
    "Hollow markers: the system under test ran out of something at that rate; crossed: the "
    "environment did (the legend says what). Open triangles are the talk's own numbers ("
    f"{_MARKS}): the study's marks. Means over trials; bands are "
    "Student-t 95 % confidence intervals. Service time (from the actual send) is in the "
    "percentiles table.",
    "fig1b_load_variants": "Figure 1 for every host, sshd profile and command the sweep ran, "
    "in panels with shared axes (the same encoding as figure 1).",
    "fig2_mean_response_by_host": "The study's averages figure: mean latency per host, "
    "command and rate, with Student-t 95 % confidence intervals over trials (the study ran "
    "10 trials per bar).",
    "fig3_sshd_profiles": "The study's sshd tuning question: successful and failed requests per "
    "load under the default sshd (MaxStartups 10:30:100, MaxSessions 10) and the tuned one "
    "(1000:30:3000, 3000): successes in blue, failures in warm shades split by their error "
    "class (requests.csv error_class); hatched bars: a point there ran out of something.",
    "fig4_libraries_and_modes": "Median and 99th-percentile latency per rate for each SSH "
    "library (ssh2-python, Paramiko, the OpenSSH client, asyncssh, ssh-python/libssh), "
    "connection mode (a new connection per request, or a pool of open sessions) and client "
    "TCP mode (default: delayed ACKs, as the study; quickack: the route attribute that removes "
    "the ~40 ms stall after authentication, README: the per-request latency floor).",
    "fig5_target_vs_achieved_rps": "Did the system get the rate asked for? Each point's "
    "sent rate over its measured window against its target, and its successful answers "
    "per second. Colour: the library; a hollow marker: the system under test ran out "
    "(a finding); crossed: the environment ran out (machine CPU or the load generator: "
    "not testable here); a grey square: the point failed.",
    "fig6_variability": "The study's future work, measurement variability: coefficient of "
    "variation (sample SD / mean) of each configuration's latency p50 and p99 across its trials.",
    "fig7_cpu_per_request": "CPU milliseconds per successful answer (utilisation law: CPU "
    "used in the window / answers in it), by SSH library and connection mode, split by "
    "where it was spent: the host's sshd, the SSH API, the load generator.",
    "fig8_capacity": "The highest rate each configuration sustains within the bound (p99 "
    "latency, failures, achieved share of the target), found by a capacity search; the "
    f"whisker is the bracket the search closed in on, the dashed line the study's "
    f"{_REF.study_rps:g} RPS.",
    "fig10_transfer": "Files moved through the API's Files endpoints (transfer points: K "
    "concurrent streams, each starting its next transfer when the last ended): throughput "
    "in MB/s of all streams together (top) and the median latency of one transfer (bottom), "
    "per file size, for downloads and uploads, each SSH library in its fixed colour.",
}


# Below each figure's caption in `snakemake --report` (reStructuredText).
SNAKEMAKE_REPORT_NOTE = (
    "Drawn from ``tidy.csv`` by ``analysis/figures.py``; the reproduction report "
    "(``paper/report.html``) shows every figure with the claims it bears on. A figure with "
    "nothing to show (e.g. no capacity search in the sweep) is a one-line placeholder here and "
    "one line in the report, saying why."
)


def write_report_captions(folder: Path) -> dict[str, Path]:
    """Each figure's caption for `snakemake --report`, as the file Snakemake's report() reads
    (a caption is a file), written into FOLDER when it changed; returns them by stem. The
    workflow writes them when it loads, as it writes the sweep's plan."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for stem, title in TITLES.items():
        f = folder / f"{stem}.rst"
        text = f"{title}. {CAPTIONS[stem]}\n\n{SNAKEMAKE_REPORT_NOTE}\n"
        if not f.exists() or f.read_text() != text:
            f.write_text(text)
        files[stem] = f
    return files
