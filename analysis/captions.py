"""Titles and captions of the figures (light: the workflow imports it to caption
`snakemake --report` entries without loading matplotlib)."""

from __future__ import annotations

TITLES = {
    "fig1_load_percentiles": "Load test results for SSH API",
    "fig2_mean_response_by_host": "Average response times on both VMs",
    "fig3_sshd_profiles": "sshd default vs tuned: successes and failures",
    "fig4_libraries_and_modes": "SSH libraries and connection modes",
    "fig5_target_vs_achieved_rps": "Target vs achieved request rate",
    "fig6_variability": "Variability across trials",
}

CAPTIONS = {
    "fig1_load_percentiles": "The study's load-test figure: response time at each percentile "
    "of requests (50 to 100 %) for each target request rate, the study's configuration "
    "(ssh2-python, a new SSH connection per request, constant rate). Lines are means over "
    "trials; bands are Student-t 95 % confidence intervals.",
    "fig2_mean_response_by_host": "The study's averages figure: mean response time per host, "
    "command and rate, with Student-t 95 % confidence intervals over trials (the study ran "
    "10 trials per bar).",
    "fig3_sshd_profiles": "The study's sshd tuning question: successful and failed requests per "
    "load under the default sshd (MaxStartups 10:30:100, MaxSessions 10) and the tuned one "
    "(1000:30:3000, 3000), failures split by class (see the collector's classify_error).",
    "fig4_libraries_and_modes": "Median and 99th-percentile response time per rate for each SSH "
    "library (ssh2-python, Paramiko, the OpenSSH client) and connection mode (a new "
    "connection per request, or a pool of open sessions).",
    "fig5_target_vs_achieved_rps": "Did the load generator deliver the rate asked for? Each "
    "point's achieved rate over its measured window against its target; points where the "
    "load generator itself was the limit (its CPU, or requests sent late) and failed points "
    "are marked.",
    "fig6_variability": "The study's future work, measurement variability: coefficient of "
    "variation (sample SD / mean) of each configuration's p50 and p99 across its trials.",
}


def figure_caption(wildcards: object) -> str:
    """A figure's caption from its rule's wildcards (a Snakemake params function)."""
    stem = wildcards.figure  # type: ignore[attr-defined]
    return f"{TITLES[stem]}. {CAPTIONS[stem]}"
