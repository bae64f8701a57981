import os
import subprocess

import pytest
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


def test_resolve_device_names_a_bad_device():
    assert runinfo.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        runinfo.resolve_device("gpu0")
    with pytest.raises(ValueError, match="only cpu and cuda"):
        runinfo.resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            runinfo.resolve_device("cuda")


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        runinfo.write_json(tmp_path / "a.json", {"x": 1})
        runinfo.write_torch(tmp_path / "b.pt", {"x": torch.ones(2)})
    finally:
        os.umask(umask)
    for name in ("a.json", "b.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name    # not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.pt"]   # no temporary file left behind
