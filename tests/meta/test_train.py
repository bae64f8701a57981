import math

import pytest
import torch

from graphnca.data import load_iris
from graphnca.rule import RuleConfig
from graphnca.meta.trainer import Config, MetaTrainer, TaskConfig, TrainConfig


def tiny(condition="none", **train) -> Config:
    base = dict(steps=6, batch_per_arch=4, pool_size=8, schedule="uniform:3,5", eval_every=0, checkpoint_every=0,
                eval_samples=2, warmup=2)
    return Config(rule=RuleConfig(condition=condition), task=TaskConfig(archs=((4, 5, 3), (4, 6, 4, 3)), grow_batch=16),
                  train=TrainConfig(**{**base, **train}))


def params(tr):
    return torch.cat([p.detach().flatten() for p in tr.conv.parameters()])


@pytest.mark.parametrize("condition", ["none", "data", "feedback"])
def test_meta_steps_lower_the_loss(tmp_path, condition):
    tr = MetaTrainer(tiny(condition, steps=120, pool_size=0, schedule="fixed:8", lr=1e-2), tmp_path)
    tr.run(progress=False)
    losses = [r["loss"] for r in tr.history]
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10


def test_task_networks_change_only_through_the_rule(tmp_path):
    tr = MetaTrainer(tiny(), tmp_path)
    opt_params = {id(p) for g in tr.opt.param_groups for p in g["params"]}
    assert opt_params == {id(p) for p in tr.conv.parameters()}


@pytest.mark.parametrize("condition, damage", [("none", 1), ("data", 1), ("none", 2), ("feedback", 0)])
def test_resume_is_exact(tmp_path, condition, damage):
    def cfg():
        return tiny(condition, damage=damage, checkpoint_every=3, pool_fresh=1 if damage > 1 else 2)
    full = MetaTrainer(cfg(), tmp_path / "a")
    full.run(progress=False)
    part = MetaTrainer(cfg(), tmp_path / "b")
    part.run(progress=False, stop_after=3)           # "killed" after the step-3 checkpoint
    resumed = MetaTrainer(cfg(), tmp_path / "b")
    resumed.load(tmp_path / "b" / "checkpoint.pt")
    assert resumed.step == 3
    resumed.run(progress=False)
    assert torch.equal(params(full), params(resumed))
    assert torch.equal(full.pools[0].states, resumed.pools[0].states)


def test_resume_with_other_config_is_refused(tmp_path):
    tr = MetaTrainer(tiny(), tmp_path)
    tr.save()
    other = MetaTrainer(tiny(lr=0.5), tmp_path)
    with pytest.raises(ValueError, match="different configuration"):
        other.load(tmp_path / "checkpoint.pt")


def test_nan_step_is_rolled_back(tmp_path):
    tr = MetaTrainer(tiny(), tmp_path, data=load_iris())
    tr.data.x_train[0, 0] = float("nan")             # poisoned after loading (loading refuses NaN)
    before, pool_before = params(tr), tr.pools[0].states.clone()
    rec = tr.meta_step()
    assert rec["rolled_back"] and math.isnan(rec["loss"])
    assert torch.equal(before, params(tr)) and torch.equal(pool_before, tr.pools[0].states)


def test_spike_is_rolled_back(tmp_path):
    tr = MetaTrainer(tiny(warmup=0), tmp_path)
    tr.loss_ema, tr.step = 1e-3, 5
    before = params(tr)
    assert tr.meta_step()["rolled_back"] and torch.equal(before, params(tr))


@pytest.mark.parametrize("change, match", [
    (dict(archs=((4, 5, 2),)), "does not fit iris"),
    (dict(task="mnist"), "task config names"),
])
def test_bad_task_config(tmp_path, change, match):
    cfg = tiny()
    for k, v in change.items():
        setattr(cfg.task, k, v)
    with pytest.raises(ValueError, match=match):
        MetaTrainer(cfg, tmp_path, data=load_iris())


def test_bad_train_config(tmp_path):
    with pytest.raises(ValueError, match="pool_fresh"):
        MetaTrainer(tiny(pool_fresh=3, damage=2), tmp_path)
    with pytest.raises(ValueError, match="grad_mode"):
        MetaTrainer(tiny(grad_mode="adam"), tmp_path)


def test_init_from_starts_with_the_saved_rule(tmp_path):
    first = MetaTrainer(tiny(), tmp_path / "a")
    first.run(progress=False)
    first.save()
    ck = str(tmp_path / "a" / "checkpoint.pt")
    warm = MetaTrainer(tiny(init_from=ck, lr=1e-3), tmp_path / "b")
    assert torch.equal(params(warm), params(first)) and warm.step == 0
    finer = tiny(init_from=ck)
    finer.rule.step_size = first.cfg.rule.step_size / 10     # a bound, not a weight: may change
    tr = MetaTrainer(finer, tmp_path / "fine")
    assert torch.equal(params(tr), params(first)) and tr.conv.rule.step_size == finer.rule.step_size
    cfg = tiny(init_from=ck)
    cfg.rule.hidden_size = 4
    with pytest.raises(ValueError, match="init_from checkpoint .* holds a rule with config"):
        MetaTrainer(cfg, tmp_path / "c")


def test_checkpoint_configs_without_a_deadzone_load_as_none():
    d = Config().to_dict()
    del d["rule"]["deadzone"]                        # written before the field existed
    assert Config.from_dict(d).rule.deadzone == 0.0
