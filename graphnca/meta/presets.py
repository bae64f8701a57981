"""Named meta-training recipes (``graphnca train --preset NAME``): the data-free rules shipped as pretrained.

Each preset is a full :class:`~graphnca.config.Config`; command-line flags still override single fields. Both grow
networks from relative-position hidden codes (:mod:`graphnca.state`) under mean-field sums (:class:`graphnca.Arch`),
the two choices that carry a rule to widths and depths it never met; they train on at most four small networks,
mix depths, and grow for at most 10 steps from a rollout curriculum that starts at one step.
"""
from __future__ import annotations

from dataclasses import replace

from ..rule import RuleConfig
from ..state import InitConfig
from ..config import Config, TaskConfig, TrainConfig

_RULE = RuleConfig(hidden_size=24, widths=(64,), step_size=0.1, fire_rate=0.8, condition="none", deadzone=0.0)
_INIT = InitConfig(weight_init="kaiming", weight_scale=0.1, hidden_init="positional")
_TRAIN = TrainConfig(steps=1500, lr=3e-3, warmup=20, min_lr_ratio=0.1, schedule="growing:1,10,600",
                     grow_steps=10, batch_per_arch=4, pool_size=0, loss_steps=1, stationary_weight=1.0,
                     grad_checkpoint=False, eval_every=250, eval_samples=8, checkpoint_every=50)


def _mnist() -> Config:
    task = TaskConfig(task="mnist", activation="tanh", mean_field=16.0, data_batch=512,
                      archs=((784, 16, 16, 10), (784, 32, 32, 10), (784, 48, 48, 10), (784, 32, 10)))
    return Config(replace(_RULE), replace(_INIT), task, replace(_TRAIN))


def _fashion() -> Config:
    # depth-3 networks of non-increasing widths from {16, 32, 64, 128}: four of the twenty train, the rest are
    # held out (every width-128 network among them)
    task = TaskConfig(task="fashion-mnist", activation="tanh", mean_field=16.0, data_batch=512,
                      archs=((784, 16, 16, 16, 10), (784, 32, 32, 32, 10), (784, 64, 32, 16, 10),
                             (784, 64, 64, 32, 10)))
    return Config(replace(_RULE), replace(_INIT), task, replace(_TRAIN))


PRESETS = {"mnist": _mnist, "fashion-mnist": _fashion}


def preset(name: str) -> Config:
    """A fresh copy of the named recipe's configuration."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]()
