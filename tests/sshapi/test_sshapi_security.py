"""Isolation between users, encryption of keys at rest, and hostile `ls` paths: each is
refused (400, outside the path alphabet) or reaches `ls` as exactly one argument, and
nothing else ever runs on the host, under bash and under a fish login shell."""

from __future__ import annotations

import fcntl
import logging
import os
import pwd
import re
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sshapi.commands import _PATH_RE
from sshapi.crypto import Box, load_or_create_key
from sshapi.settings import CONNECTION_MODES, LIBRARIES
from sshapi.testing import running_sshd

FISH = "/usr/bin/fish"


def test_other_users_credentials_are_invisible(make_client, sshd):
    api = make_client()
    bob = api.add_user("bob")
    assert api.post("/credentials", sshd.credential()).status_code == 201
    assert api.get("/credentials", token=bob).json == {"credentials": []}
    for method, path in [
        ("get", "/credentials/h1/uptime"),
        ("get", "/credentials/h1/ls?path=."),
        ("delete", "/credentials/h1"),
    ]:
        theirs = getattr(api, method)(path, token=bob)
        missing = getattr(api, method)(path.replace("h1", "h2"), token=bob)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json["error"] == missing.json["error"] == "credential_not_found"
    # bob's own credential of the same name is his, alice's is untouched
    assert api.post("/credentials", sshd.credential(), token=bob).status_code == 201
    assert api.delete("/credentials/h1", token=bob).status_code == 204
    assert api.get("/credentials/h1/uptime").status_code == 200


def _key_fragments(private_key: str) -> list[bytes]:
    """The raw key in every form it could leak: PEM text, each base64 line, decoded bytes."""
    import base64

    lines = [ln for ln in private_key.splitlines() if ln and not ln.startswith("-----")]
    body = "".join(lines)
    return [private_key.encode(), body.encode(), base64.b64decode(body)] + [
        ln.encode() for ln in lines
    ]


@pytest.mark.parametrize("connections", CONNECTION_MODES)
@pytest.mark.parametrize("library", LIBRARIES)
def test_private_key_never_in_db_or_logs(make_client, sshd, tmp_path, caplog, library,
                                         connections):  # fmt: skip
    caplog.set_level(logging.DEBUG)
    api = make_client(library, connections)
    assert api.post("/credentials", sshd.credential()).status_code == 201
    assert api.get("/credentials/h1/uptime").status_code == 200
    api.post("/credentials", sshd.credential(name="bad", port=1))
    api.get("/credentials/bad/uptime")  # an error path, logged
    listed = api.get("/credentials").get_data()
    engine = api.app.extensions["sshapi"]["engine"]
    engine.dispose()
    db = (tmp_path / "api0.db").read_bytes()
    logs = caplog.text.encode()
    for fragment in _key_fragments(sshd.private_key):
        assert fragment not in db
        assert fragment not in logs
        assert fragment not in listed
    # what is stored is the key, sealed with the data key (so the test above means something)
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from sshapi.store import Credential

    with Session(engine) as s:
        sealed = s.scalars(select(Credential.private_key_sealed)).first()
    assert Box(load_or_create_key(key_file)).open(sealed) == sshd.private_key.encode()


def test_key_file_is_created_0600_and_secret_env_wins(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    from sshapi.crypto import data_key

    path = tmp_path / "sub" / "k.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key  # reused, not replaced
    env_key = Fernet.generate_key()
    monkeypatch.setenv("SSHAPI_SECRET_KEY", env_key.decode())
    assert data_key(path) == env_key
    monkeypatch.setenv("SSHAPI_SECRET_KEY", "too-short")
    with pytest.raises(ValueError, match="SSHAPI_SECRET_KEY"):
        data_key(path)


# Each is a file name (no "/"): the test creates a file of exactly that name in the test
# user's home, so `ls` succeeds and echoes it back only if it got exactly that one argument.
# Injection attempts write `canary` in the home dir if anything runs.
HOSTILE = [
    "$(touch canary)", "`touch canary`", "; touch canary", ";touch canary;", "&& touch canary",
    "|| touch canary", "| touch canary", "& touch canary", "&touch canary&", "'; touch canary; '",
    '"; touch canary; "', "'$(touch canary)'", '"$(touch canary)"', "$(touch${IFS}canary)",
    ">canary", ">>canary", "<(touch canary)", ">(touch canary)", "x;touch canary", "x|touch canary",
    "x&&touch canary", "x\ttouch canary", "$( touch canary )", "${PATH:0:0}$(touch canary)",
    "$((1+1))", "${HOME}", "$HOME", "~", "~root", "*", "?", "[a-z]*", "{a,b}", "{touch,canary}",
    "!!", "!touch", "\\", "\\$(touch canary)", "'", '"', "''", '""', "'\"'\"'", "#", "# comment",
    "-la", "--help", "-", "--", " ", "  leading and trailing  ", "a b c", "\t",
    "$'touch canary'", "$\"touch canary\"", "%s%n", "..%2f", "é ü 文字", "emoji 🙂",
    "\x1b[31mred", "\x07bell", "=", "a=b touch canary", "exec touch canary", "(touch canary)",
    "{ touch canary; }", "if true; then touch canary; fi",
]  # fmt: skip


@pytest.fixture
def hostile_home(sshd):
    """A clean folder in the test user's home, one per test process (pytest-xdist workers
    share the home), removed after."""
    home = sshd.home / f"hostile-{os.getpid()}"
    shutil.rmtree(home, ignore_errors=True)
    (sshd.home / "canary").unlink(missing_ok=True)  # a stale one from a failed run
    home.mkdir()
    yield home
    shutil.rmtree(home, ignore_errors=True)


def _check_one(api, home, name: str) -> bool:
    """A name outside the path alphabet is refused before anything runs; one inside it
    reaches ls verbatim. Returns whether it was accepted."""
    (home / name).write_text("")
    path = f"{home.name}/{name}"
    r = api.get("/credentials/h1/ls", query_string={"path": path})
    (home / name).unlink()
    if not _PATH_RE.fullmatch(path):
        assert r.status_code == 400 and r.json["error"] == "bad_path", (name, r.json)
        return False
    assert r.status_code == 200, r.json
    assert (r.json["exit_status"], r.json["stderr"]) == (0, ""), (name, r.json)
    assert r.json["stdout"] == f"{path}\n", name
    return True


@pytest.mark.parametrize("library", LIBRARIES)
def test_hostile_paths_are_refused_or_reach_ls_as_one_argument(
    make_client, sshd, hostile_home, library
):
    assert len(HOSTILE) >= 50
    api = make_client(library, "pooled")
    api.post("/credentials", sshd.credential())
    accepted = [name for name in HOSTILE if _check_one(api, hostile_home, name)]
    # both sides are exercised: the alphabet is not "refuse everything"
    assert 5 <= len(accepted) < len(HOSTILE) - 40, accepted
    # top level too, where a leading "-" would be an option without "--"; fixed names in a
    # home every pytest-xdist worker shares, so one test process at a time
    with open(Path(tempfile.gettempdir()) / f"sshapi-{sshd.user}-top-level.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in ("-la", "--version", "-R"):
            (sshd.home / name).write_text("")
            try:
                r = api.get("/credentials/h1/ls", query_string={"path": name})
                assert (r.json["exit_status"], r.json["stdout"]) == (0, f"{name}\n")
            finally:
                (sshd.home / name).unlink()
    for path in ("a\nb", "a\x00b", "x'y", "~", "$HOME", "a\\b", "\u00e9"):
        r = api.get("/credentials/h1/ls", query_string={"path": path})
        assert (r.status_code, r.json["error"]) == (400, "bad_path"), path
    assert not (sshd.home / "canary").exists()
    assert not (hostile_home / "canary").exists()
    assert os.listdir(hostile_home) == []


def test_hostile_paths_generated(make_client, sshd, hostile_home):
    """Hypothesis: any file name is refused or reaches ls verbatim; names drawn from the
    alphabet itself always reach it."""
    api = make_client("ssh2", "pooled")
    api.post("/credentials", sshd.credential())
    names = st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00\n\r"),
        min_size=1,
        max_size=40,
    ).filter(lambda s: s not in (".", "..") and len(s.encode()) <= 255)
    safe = st.from_regex(re.compile(r"[A-Za-z0-9 ._+,:=@-]{1,40}"), fullmatch=True).filter(
        lambda s: s not in (".", "..")
    )

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(names)
    def check(name: str) -> None:
        _check_one(api, hostile_home, name)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(safe)
    def check_safe(name: str) -> None:
        assert _check_one(api, hostile_home, name)

    check()
    check_safe()
    assert not (sshd.home / "canary").exists()


@pytest.fixture(scope="module")
def fish_sshd(tmp_path_factory):
    """A second real sshd whose test user's login shell is Debian's fish (not POSIX)."""
    if not os.path.exists(FISH):
        pytest.fail("fish is not installed: run scripts/setup-system.sh")
    with running_sshd(tmp_path_factory.mktemp("sshd-fish"), user="sshapif", shell=FISH) as s:
        yield s


# In the alphabet, and each one a trap for some shell's quoting if it were built by hand
FISH_NAMES = ["a b", "-la", "x+y,z:w=v@u", "semi colon.txt", "--", "=", "  two  spaces  "]


@pytest.mark.parametrize("library", LIBRARIES)
def test_ls_under_a_fish_login_shell(make_client, fish_sshd, library):
    assert pwd.getpwnam(fish_sshd.user).pw_shell == FISH
    api = make_client(library, "per-request")
    assert api.post("/credentials", fish_sshd.credential()).status_code == 201
    r = api.get("/credentials/h1/uptime")
    assert r.status_code == 200 and "load average" in r.json["stdout"], r.json
    d = fish_sshd.home / f"fishdir-{os.getpid()}"  # the home is shared by xdist workers
    shutil.rmtree(d, ignore_errors=True)
    (d / "sub dir").mkdir(parents=True)
    try:
        for name in FISH_NAMES:
            (d / "sub dir" / name).write_text("")
            path = f"{d.name}/sub dir/{name}"
            r = api.get("/credentials/h1/ls", query_string={"path": path})
            assert r.status_code == 200, r.json
            assert (r.json["exit_status"], r.json["stderr"]) == (0, ""), (name, r.json)
            assert r.json["stdout"] == f"{path}\n"
        r = api.get("/credentials/h1/ls", query_string={"path": "/"})  # the runner's default
        assert r.status_code == 200 and "etc" in r.json["stdout"].split(), r.json
        # fish's quoting differs from sh's: such paths never reach it
        for path in ("x'y", "a\\b", "$HOME", "(echo x)"):
            r = api.get("/credentials/h1/ls", query_string={"path": path})
            assert (r.status_code, r.json["error"]) == (400, "bad_path"), path
    finally:
        shutil.rmtree(d, ignore_errors=True)
    # and fish really was the shell that ran the commands: it keeps its state in the home
    assert (fish_sshd.home / ".local" / "share" / "fish").exists() or (
        fish_sshd.home / ".config" / "fish"
    ).exists()
