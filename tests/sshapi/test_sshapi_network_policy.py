"""Where credentials may point (issue 24): denied networks (loopback, link-local, the API's
own addresses: `self`) win over allowed ones, after name resolution; and with
uniform_connect_errors a refused port, an unknown name and a denied address answer alike."""

from __future__ import annotations

import logging

import pytest

from sshapi.settings import Settings, own_addresses


def test_self_names_this_machines_addresses():
    own = own_addresses()
    assert "127.0.0.1/32" in own
    s = Settings(allowed_networks=("198.18.0.0/15",), denied_networks=("self", "169.254.0.0/16"))
    assert "!127.0.0.1/32" in s.allowed_networks and "198.18.0.0/15" in s.allowed_networks
    assert "169.254.0.0/16" in s.denied_networks
    with pytest.raises(ValueError, match="denied network 'nope'"):
        Settings(denied_networks=("nope",))


@pytest.mark.parametrize("library", ["ssh2", "openssh"])
def test_denied_networks_win_after_resolution(make_client, sshd, library):
    for denied in (("self",), ("127.0.0.0/8",)):
        api = make_client(library, allowed_networks=("127.0.0.0/8",), denied_networks=denied)
        api.post("/credentials", sshd.credential("ip"))
        api.post("/credentials", sshd.credential("named", host="localhost"))
        for name in ("ip", "named"):
            r = api.get(f"/credentials/{name}/uptime")
            assert (r.status_code, r.json["error"]) == (502, "ssh_error"), r.json
            assert "cannot connect" in r.json["message"]
    api = make_client(library, denied_networks=("169.254.0.0/16",))  # metadata: not ours
    api.post("/credentials", sshd.credential())
    assert api.get("/credentials/h1/uptime").status_code == 200


def test_uniform_connect_errors_tell_nothing(make_client, sshd, caplog):
    caplog.set_level(logging.INFO, logger="sshapi")
    api = make_client("ssh2", uniform_connect_errors=True, denied_networks=("169.254.0.0/16",))
    cases = {
        "refused": sshd.credential("refused", port=1),
        "noname": sshd.credential("noname", host="no-such-host.invalid"),
        "denied": sshd.credential("denied", host="169.254.169.254"),
    }
    answers = {}
    for name, body in cases.items():
        assert api.post("/credentials", body).status_code == 201
        r = api.get(f"/credentials/{name}/uptime")
        answers[name] = (r.status_code, r.json["error"], r.json["message"].replace(name, "X"))
    assert len(set(answers.values())) == 1, answers
    assert answers["refused"][:2] == (502, "ssh_error")
    assert "refused" in caplog.text  # the detail is in the log, for the operator
    # without the setting (the benchmark), sshd's refusals stay countable
    plain = make_client("ssh2")
    plain.post("/credentials", sshd.credential("refused", port=1))
    assert plain.get("/credentials/refused/uptime").json["error"] == "ssh_connection_refused"
