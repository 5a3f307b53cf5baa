import pytest

from sshbench import paths


def test_results_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SSHBENCH_RESULTS", str(tmp_path))
    assert paths.point_dir("quick", "p1") == tmp_path / "quick" / "points" / "p1"


@pytest.mark.parametrize("bad", ["", "Main", "1abc", "toolongname", "a-b"])
def test_bad_testbed_name_is_refused(monkeypatch, bad):
    monkeypatch.setenv("SSHBENCH_TESTBED", bad)
    with pytest.raises(ValueError, match="SSHBENCH_TESTBED"):
        paths.testbed_name()
