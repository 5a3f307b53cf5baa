# The testbed and the SSH API as side effects. Each point makes sure its own sshd profile and
# API deployment are in place (see sshbench.sweep.point), so the flag below only brings the testbed
# up once before the first point; teardown runs after the sweep, on success and on failure.


rule testbed_up:
    output:
        touch(TESTBED_FLAG),
    params:
        inventory=SWEEP["inventory"],
        profile=FIRST_PROFILE,
        profiles=SWEEP["sshd_profiles"],
    log:
        f"{LOGS_DIR}/testbed_up.log",
    resources:
        testbed=1,
    conda:
        "../../environment.yml"
    message:
        "Bringing the testbed up (inventory {params.inventory}, sshd profile {params.profile})"
    script:
        "../scripts/testbed_up.py"


rule teardown:
    log:
        f"{LOGS_DIR}/teardown.log",
    conda:
        "../../environment.yml"
    message:
        "Stopping the SSH API and taking the testbed down"
    script:
        "../scripts/teardown.py"

