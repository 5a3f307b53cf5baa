# One job per sweep point. A point's params hold every parameter it depends on, so changing a
# rate reruns only the points with that rate; point.json is written last, atomically.


rule run_point:
    input:
        testbed=ancient(TESTBED_FLAG),
    output:
        f"{POINTS_DIR}/{{point}}/{POINT_FILE}",
    params:
        sweep=SWEEP_NAME,
        point=point_params,
        settings=RUN_SETTINGS,
    log:
        f"{LOGS_DIR}/points/{{point}}.log",
    wildcard_constraints:
        point=r"[a-z0-9][a-z0-9_.-]*",
    resources:
        testbed=1,
    priority: point_priority
    conda:
        "../../environment.yml"
    message:
        "Point {wildcards.point}"
    script:
        "../scripts/run_point.py"


# One job per capacity search: it runs its own steps (each an ordinary point directory),
# choosing each rate from the last; after the plain points (lowest priority).
rule run_capacity:
    input:
        testbed=ancient(TESTBED_FLAG),
    output:
        f"{CAPACITY_DIR}/{{search}}.json",
    params:
        sweep=SWEEP_NAME,
        search=search_params,
        settings=RUN_SETTINGS,
    log:
        f"{LOGS_DIR}/capacity/{{search}}.log",
    wildcard_constraints:
        search=r"cap-[a-z0-9_.-]+",
    resources:
        testbed=1,
    priority: 0
    conda:
        "../../environment.yml"
    message:
        "Capacity search {wildcards.search}"
    script:
        "../scripts/run_capacity.py"
