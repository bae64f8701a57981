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
    with pytest.raises(ValueError, match=r"is not a checkpoint \(not a torch.save archive"):
        load_checkpoint(code)
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    old = tmp_path / "old.pt"
    torch.save({"format": "graphnca-checkpoint", "version": 0}, old)
    with pytest.raises(ValueError, match="format version 0"):
        load_checkpoint(old)


def test_export_rule_is_small_grows_and_refuses_resume(tmp_path):
    from graphnca.checkpoint import export_rule
    from graphnca.experiments.common import load_rule
    from graphnca.meta.trainer import Config, MetaTrainer, TaskConfig, TrainConfig
    cfg = Config(task=TaskConfig(archs=((4, 5, 3),)),
                 train=TrainConfig(steps=2, batch_per_arch=2, pool_size=4, schedule="fixed:2", eval_every=0,
                                   checkpoint_every=0))
    tr = MetaTrainer(cfg, tmp_path / "run")
    tr.run(progress=False)
    full = tr.save()
    small = tmp_path / "rule.pt"
    export_rule(full, small)
    ck = load_checkpoint(small)
    assert ck["rule_only"] and ck["step"] == 2 and "optimizer" not in ck and "pools" not in ck
    conv, cfg2 = load_rule(small)
    for k, v in tr.conv.state_dict().items():
        assert torch.equal(conv.state_dict()[k], v)
    assert cfg2 == tr.cfg
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "checkpoint.pt").write_bytes(small.read_bytes())
    with pytest.raises(ValueError, match="exported rule only"):
        MetaTrainer(cfg, tmp_path / "again").load(tmp_path / "again" / "checkpoint.pt")
    save_checkpoint(tmp_path / "norule.pt", {"step": 1})
    with pytest.raises(ValueError, match="no rule and configuration"):
        export_rule(tmp_path / "norule.pt", tmp_path / "x.pt")


