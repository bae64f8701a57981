import pickle

import pytest
import torch

from graphnca.checkpoint import load_checkpoint, save_checkpoint


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_round_trip_and_atomic(tmp_path):
    path = tmp_path / "sub" / "ck.pt"
    save_checkpoint(path, {"rule": {"w": torch.ones(3)}, "step": 4})
    ck = load_checkpoint(path)
    assert ck["step"] == 4 and torch.equal(ck["rule"]["w"], torch.ones(3))
    assert [p.name for p in path.parent.iterdir()] == ["ck.pt"]  # no temporary files left behind


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_corrupt_foreign_code_and_missing(tmp_path):
    bad = tmp_path / "corrupt.pt"
    save_checkpoint(bad, {"x": torch.ones(100)})
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.ones(1)}}, foreign)
    with pytest.raises(ValueError, match="not a graphnca checkpoint"):
        load_checkpoint(foreign)
    code = tmp_path / "code.pt"
    code.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError, match="corrupt or not a plain-tensor file"):
        load_checkpoint(code)
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    old = tmp_path / "old.pt"
    torch.save({"format": "graphnca-checkpoint", "version": 0}, old)
    with pytest.raises(ValueError, match="format version 0"):
        load_checkpoint(old)
