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
    "fig7_cpu_per_request": "Where each request's CPU goes",
    "fig8_capacity": "Capacity at the latency bound",
}

CAPTIONS = {
    "fig1_load_percentiles": "The study's load-test figure: latency at each percentile of "
    "requests (50 to 100 %) for each target request rate, the study's configuration "
    "(ssh2-python, a new SSH connection per request, constant rate). Solid lines: latency "
    "from each request's intended send time in the schedule (a request the generator sent "
    "late pays for the wait); dashed: service time from its actual send. Means over "
    "trials; bands are Student-t 95 % confidence intervals.",
    "fig2_mean_response_by_host": "The study's averages figure: mean latency per host, "
    "command and rate, with Student-t 95 % confidence intervals over trials (the study ran "
    "10 trials per bar).",
    "fig3_sshd_profiles": "The study's sshd tuning question: successful and failed requests per "
    "load under the default sshd (MaxStartups 10:30:100, MaxSessions 10) and the tuned one "
    "(1000:30:3000, 3000), failures split by their error class (requests.csv error_class).",
    "fig4_libraries_and_modes": "Median and 99th-percentile latency per rate for each SSH "
    "library (ssh2-python, Paramiko, the OpenSSH client, asyncssh, ssh-python/libssh), "
    "connection mode (a new connection per request, or a pool of open sessions) and client "
    "TCP mode (default: delayed ACKs, as the study; quickack: the route attribute that removes "
    "the ~40 ms stall after authentication, README: the per-request latency floor).",
    "fig5_target_vs_achieved_rps": "Did the system get the rate asked for? Each point's "
    "sent rate over its measured window against its target, and its successful answers "
    "per second; points are marked by what ran out (the tidy saturation wording: "
    "'saturated: host_cpu:<host>' is the system under test, a finding; 'load generator "
    "limited: ...' is the generator) and failed points.",
    "fig6_variability": "The study's future work, measurement variability: coefficient of "
    "variation (sample SD / mean) of each configuration's latency p50 and p99 across its trials.",
    "fig7_cpu_per_request": "CPU milliseconds per successful answer (utilisation law: CPU "
    "used in the window / answers in it), by SSH library and connection mode, split by "
    "where it was spent: the host's sshd, the SSH API, the load generator.",
    "fig8_capacity": "The highest rate each configuration sustains within the bound (p99 "
    "latency, failures, achieved share of the target), found by a capacity search; the "
    "whisker is the bracket the search closed in on, the dashed line the study's 90 RPS.",
}


def figure_caption(wildcards: object) -> str:
    """A figure's caption from its rule's wildcards (a Snakemake params function)."""
    stem = wildcards.figure  # type: ignore[attr-defined]
    return f"{TITLES[stem]}. {CAPTIONS[stem]}"
