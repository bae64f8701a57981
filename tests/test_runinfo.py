import subprocess

import torch

from graphnca import runinfo


def test_git_revision_environment_override(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")
    monkeypatch.setattr(subprocess, "run", no_git)
    monkeypatch.delenv("GRAPHNCA_GIT_REVISION", raising=False)
    assert runinfo.git_revision() is None
    monkeypatch.setenv("GRAPHNCA_GIT_REVISION", "abc123")
    assert runinfo.git_revision() == "abc123"
    assert runinfo.run_metadata()["git_revision"] == "abc123"


def test_run_metadata_names_the_device():
    assert runinfo.run_metadata("cpu")["device"] == runinfo.device_name(torch.device("cpu"))
    assert "cpus" in runinfo.run_metadata()["device"]
