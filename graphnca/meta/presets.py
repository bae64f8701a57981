"""Named meta-training recipes (``graphnca train --preset NAME``): the data-free rules shipped as pretrained.

Each preset is a set of config fields (``section.field``: value) over the defaults, the same form as a variant
of the design study (``benchmarks/design_variants.json``), so a study's winner becomes a preset as it stands; the
presets add only how long to run and how often to evaluate. Command-line flags override single fields.

* ``mnist``: the design study's winner: relative-position codes, mean-field sums (C = 16), the source's
  ``consecutive`` neighbourhood, three small training networks (two with two hidden layers, one with one),
  rollouts of 8-12 steps with the loss after the last, grown in 10 steps.
* ``mnist-relu``: ``mnist`` with ReLU task networks: 2 points more at first widths >= 30, far less at width 10
  (RESULTS.md), so it ships beside ``mnist`` rather than in its place.
* ``mnist-robust``: ``mnist`` warm-started from the shipped ``mnist`` rule, then meta-trained with a sample pool,
  a dead zone and zero-out damage (as the iris demo rules are), aiming at grown networks that stay put and
  regrow a zeroed layer. Pooled states are replaced by age, not loss, so that states that start to drift stay
  in the pool and count (RESULTS.md: replaced by loss, they left before the rule had to hold them). Rollouts
  run 8-48 steps (growth still 10): a grown network stays within 10 % of its best loss for about as many updates
  as the rollouts are long (11, 25, 60 for rollouts up to 12, 24, 48; RESULTS.md), the pool adds little.
* ``fashion-mnist``: ``mnist-relu`` on Fashion-MNIST, on two depth-3 networks and one with two hidden layers
  (the design study's ``fashion-mixed-relu``: tanh depth-3 networks trained slowly).
"""
from __future__ import annotations

from ..config import Config, with_fields

MNIST = {
    "task.task": "mnist", "task.activation": "tanh", "task.mean_field": 16.0, "task.data_batch": 256,
    "task.archs": ((784, 16, 16, 10), (784, 32, 32, 10), (784, 24, 10)),
    "rule.hidden_size": 24, "rule.widths": (64,), "rule.step_size": 0.1, "rule.fire_rate": 1.0,
    "rule.neighbourhood": "consecutive", "rule.aggregation": "mean", "rule.deadzone": 0.0,
    "init.weight_init": "kaiming", "init.weight_scale": 0.1, "init.hidden_init": "positional",
    "train.lr": 0.01, "train.warmup": 20, "train.schedule": "uniform:8,12", "train.grow_steps": 10,
    "train.batch_per_arch": 2, "train.pool_size": 0, "train.loss_steps": 1, "train.stationary_weight": 0.0,
    "train.grad_checkpoint": False,
}
ROBUST = {                   # a pool of grown states that age, exact fixed points, and damage to regrow from
    "train.init_from": "mnist", "train.lr": 0.003, "train.warmup": 50, "rule.deadzone": 0.2,
    "train.batch_per_arch": 4, "train.pool_size": 32, "train.pool_fresh": 2, "train.pool_replace_every": 20,
    "train.pool_replace": "oldest", "train.damage": 1, "train.loss_steps": 3, "train.stationary_weight": 0.5,
    "train.schedule": "uniform:8,48",   # grown nets hold about as many updates as the rollouts are long
    "train.grad_checkpoint": True,      # 48 steps: 8.6 GiB of activations per meta-step without, 1.3 with
}
RELU = {"task.activation": "relu"}
FASHION = {"task.task": "fashion-mnist",
           "task.archs": ((784, 32, 32, 10), (784, 16, 16, 16, 10), (784, 32, 32, 32, 10))}
RUN = {"train.eval_every": 500, "train.eval_samples": 8, "train.checkpoint_every": 50}

PRESETS = {
    "mnist": {**MNIST, **RUN, "train.steps": 6000},
    "mnist-relu": {**MNIST, **RELU, **RUN, "train.steps": 6000},
    "mnist-robust": {**MNIST, **ROBUST, **RUN, "train.steps": 3000},
    "fashion-mnist": {**MNIST, **RELU, **FASHION, **RUN, "train.steps": 9000},
}


def preset(name: str) -> Config:
    """A fresh copy of the named recipe's configuration."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return with_fields(Config(), PRESETS[name])
