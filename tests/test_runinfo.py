import subprocess

from graphnca import runinfo


def test_git_revision_falls_back_to_environment_outside_git(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")
    monkeypatch.setattr(subprocess, "run", no_git)
    monkeypatch.delenv("GRAPHNCA_GIT_REVISION", raising=False)
    assert runinfo.git_revision() is None
    monkeypatch.setenv("GRAPHNCA_GIT_REVISION", "abc123")
    assert runinfo.git_revision() == "abc123"
    assert runinfo.run_metadata()["git_revision"] == "abc123"
