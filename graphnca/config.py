"""Configuration of a meta-training run, one dataclass per concern: the task, the outer optimisation, and the
whole (with the rule's :class:`~graphnca.RuleConfig` and the init's :class:`~graphnca.InitConfig`). Plain data:
growing and evaluating read it without importing the trainer."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field

from .data import TaskData
from .graph import WeightGraph
from .rule import RuleConfig
from .schedules import parse_schedule
from .state import InitConfig


@dataclass
class TaskConfig:
    """What the grown networks are for."""

    task: str = "iris"
    archs: tuple[tuple[int, ...], ...] = ((4, 8, 8, 3),)  # meta-training architectures, grown side by side
    activation: str = "tanh"        # measured more reliable than relu for grown iris nets (RESULTS.md)
    mean_field: float | None = None  # weights out of a hidden layer of width n act as c / n times themselves
                                    # (graphnca.Arch): the same rule grows any width
    data_root: str | None = None    # folder with IDX files (offline MNIST / Fashion-MNIST)
    data_batch: int = 0             # examples per meta-step; 0 = the whole training set
    label_smoothing: float = 0.1    # gives the task loss a finite optimum, so a stable rule can stop growing
    grow_batch: int = 64            # examples a data-conditioned rule sees per growth step (condition="data")

    def graph(self, sizes) -> WeightGraph:
        """The task network of layer ``sizes`` these settings describe (activation, mean-field gain)."""
        return WeightGraph.from_sizes(sizes, activation=self.activation, mean_field=self.mean_field)


@dataclass
class TrainConfig:
    """The outer (meta) optimisation."""

    steps: int = 6000
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup: int = 20                 # linear LR warm-up, then cosine decay to lr * min_lr_ratio
    min_lr_ratio: float = 0.1
    schedule: str = "uniform:10,20"  # rollout length: fixed:T | uniform:LOW,HIGH | growing:LOW,HIGH,OVER
    grow_steps: int = 0              # steps used to grow networks at evaluation; 0 = the schedule's maximum
    batch_per_arch: int = 8          # task networks per architecture per meta-step
    pool_size: int = 16              # sample pool per architecture; 0 = always start from fresh states
    pool_fresh: int = 2              # fresh states in every batch (the rest come from the pool)
    pool_replace_every: int = 25     # every N meta-steps one pooled state gives way to a freshly grown one ...
    pool_replace: str = "worst"      # ... the worst (highest loss) or the oldest (drifting states stay and count)
    damage: int = 0                  # pooled samples per architecture hit by zero-out damage each meta-step
    damage_p: float = 0.3            # fraction of the other weights zeroed besides one whole layer
    grad_mode: str = "normalize"     # normalize: per-parameter unit-norm gradients; clip: global norm clip
    clip: float = 1.0
    spike_factor: float = 5.0        # roll back a step whose loss > factor * running mean ...
    spike_min_delta: float = 0.5     # ... and > running mean + this (tiny running means are not spikes)
    loss_steps: int = 5              # average the task loss over the last N rollout steps (penalises oscillation)
    stationary_weight: float = 1.0   # penalise one further update of the grown state: the rule learns to stop
    grad_checkpoint: bool = True
    init_from: str | None = None     # start from this checkpoint's rule weights (same rule config except, if
                                     # wanted, step_size; optimiser, pools and step start afresh): continue a
                                     # rule under a new curriculum
    eval_every: int = 500
    eval_samples: int = 16
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "cpu"


@dataclass
class Config:
    rule: RuleConfig = field(default_factory=RuleConfig)
    init: InitConfig = field(default_factory=InitConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "Config":
        """The config a checkpoint or JSON stored. Fields of options since removed are dropped where they hold
        the value that meant "off"; any other value is one ``ValueError`` naming the field (that file's rule
        needs the option)."""
        d = {s: dict(d[s]) for s in ("rule", "init", "task", "train")}
        for key, off in REMOVED_FIELDS.items():
            section, _, name = key.partition(".")
            if name in d[section]:
                value = d[section].pop(name)
                if value != off:
                    raise ValueError(f"config field {key} = {value!r} belongs to an option this version removed "
                                     f"(only {off!r} can be read)")
        # checkpoints older than the dead zone ran without one (whatever today's default)
        rule = RuleConfig(**{"deadzone": 0.0, **d["rule"], "widths": _tuples(d["rule"]["widths"])})
        init = InitConfig(**{**d["init"], "input_shape": _tuples(d["init"]["input_shape"])})
        task = TaskConfig(**{**d["task"], "archs": _tuples(d["task"]["archs"])})
        return Config(rule, init, task, TrainConfig(**d["train"]))


# research options that did not become defaults and were removed (RESULTS.md, "What did not work"): the value
# each had when off, which is how older files that stored them are still read
REMOVED_FIELDS = {"rule.interaction": 0, "rule.feature_gain": 1.0, "task.permute": False,
                  "train.probe_weight": 0.0, "train.probe_ridge": 1e-2, "train.align_weight": 0.0,
                  "train.pool_age": 0, "train.damage_grow": 0, "train.damage_from_pool": 0}


def _tuples(v):
    return tuple(_tuples(x) for x in v) if isinstance(v, (list, tuple)) else v


def with_fields(cfg: Config, fields: dict) -> Config:
    """A copy of ``cfg`` with ``{"section.field": value}`` set, e.g. ``{"rule.neighbourhood": "consecutive"}``
    (JSON lists become tuples). A named recipe is its fields, so a study's variant and a preset are the same
    data; an unknown name is one ``ValueError``."""
    parts = {name: dict() for name in ("rule", "init", "task", "train")}
    for key, value in fields.items():
        section, _, name = key.partition(".")
        if section not in parts or name not in {f.name for f in dataclasses.fields(getattr(cfg, section))}:
            raise ValueError(f"no config field {key!r} (fields are named section.field, sections: {sorted(parts)})")
        parts[section][name] = _tuples(value)
    return Config(**{s: dataclasses.replace(getattr(cfg, s), **parts[s]) for s in parts})


_INF = math.inf
# field: (low, high, low included, high included); counts are whole numbers, None only where the field allows it
_RANGES = {
    "rule.hidden_size": (0, _INF, True, False), "rule.step_size": (0, _INF, False, False),
    "rule.fire_rate": (0, 1, False, True), "rule.deadzone": (0, _INF, True, False),
    "init.weight_scale": (0, _INF, True, False),
    "task.mean_field": (0, _INF, False, False), "task.data_batch": (0, _INF, True, False),
    "task.label_smoothing": (0, 1, True, False), "task.grow_batch": (1, _INF, True, False),
    "train.steps": (1, _INF, True, False), "train.lr": (0, _INF, False, False),
    "train.weight_decay": (0, _INF, True, False), "train.warmup": (0, _INF, True, False),
    "train.min_lr_ratio": (0, 1, True, True), "train.grow_steps": (0, _INF, True, False),
    "train.batch_per_arch": (1, _INF, True, False), "train.pool_size": (0, _INF, True, False),
    "train.pool_fresh": (0, _INF, True, False), "train.pool_replace_every": (1, _INF, True, False),
    "train.damage": (0, _INF, True, False), "train.damage_p": (0, 1, True, True),
    "train.clip": (0, _INF, False, False), "train.spike_factor": (1, _INF, False, False),
    "train.spike_min_delta": (0, _INF, True, False), "train.loss_steps": (1, _INF, True, False),
    "train.stationary_weight": (0, _INF, True, False), "train.eval_every": (0, _INF, True, False),
    "train.eval_samples": (1, _INF, True, False), "train.checkpoint_every": (0, _INF, True, False),
    "train.seed": (0, _INF, True, False),
}
_OPTIONAL = {"task.mean_field"}


def check_ranges(cfg: Config) -> None:
    """One ``ValueError`` naming the first field that is not a finite number in its range (NaN, inf, a negative
    count, a probability above 1, ...), and for the rule's widths and the architectures, any that is empty."""
    for key, (lo, hi, lo_in, hi_in) in _RANGES.items():
        section, _, name = key.partition(".")
        v = getattr(getattr(cfg, section), name)
        if v is None and key in _OPTIONAL:
            continue
        whole = isinstance(getattr(Config(), section).__dict__[name], int) or name == "hidden_size"
        ok = (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
              and (v >= lo if lo_in else v > lo) and (v <= hi if hi_in else v < hi)
              and (not whole or float(v).is_integer()))
        if not ok:
            span = f"{'[' if lo_in else '('}{lo}, {'inf' if hi == _INF else hi}{']' if hi_in else ')'}"
            raise ValueError(f"{key} must be a finite {'whole number' if whole else 'number'} in {span}, got {v!r}")
    if not cfg.rule.widths or any(int(w) < 1 for w in cfg.rule.widths):
        raise ValueError(f"rule.widths must list at least one positive width, got {list(cfg.rule.widths)}")
    if not cfg.task.archs or any(len(a) < 2 or min(a) < 1 for a in cfg.task.archs):
        raise ValueError(f"task.archs must list architectures of at least two positive layer sizes, got "
                         f"{[list(a) for a in cfg.task.archs]}")


def check_config(cfg: Config, data: TaskData) -> None:
    t = cfg.train
    if cfg.task.task != data.name:
        raise ValueError(f"task config names {cfg.task.task!r} but the data is {data.name!r}")
    for a in cfg.task.archs:
        if a[0] != data.num_features or a[-1] != data.num_classes:
            raise ValueError(f"architecture {list(a)} does not fit {data.name}: it needs {data.num_features} "
                             f"inputs and {data.num_classes} outputs")
    if t.grad_mode not in ("normalize", "clip"):
        raise ValueError(f"grad_mode must be 'normalize' or 'clip', got {t.grad_mode!r}")
    if t.pool_replace not in ("worst", "oldest"):
        raise ValueError(f"pool_replace must be 'worst' or 'oldest', got {t.pool_replace!r}")
    if t.pool_size and not (t.batch_per_arch - t.pool_fresh <= t.pool_size
                            and t.pool_fresh + t.damage <= t.batch_per_arch and t.pool_replace_every >= 1):
        raise ValueError("need batch_per_arch - pool_fresh <= pool_size, pool_fresh + damage <= batch_per_arch "
                         "and pool_replace_every >= 1")
    if t.damage and not t.pool_size:
        raise ValueError(f"damage={t.damage} hits pooled states: it needs a sample pool (pool_size > 0)")
    check_ranges(cfg)
    parse_schedule(t.schedule)


def preprocessing(data: TaskData) -> dict:
    """The standardisation of the raw inputs (``None`` entries: none), kept with a rule so that its grown
    networks can be exported to act on raw inputs."""
    return {k: None if v is None else v.detach().cpu() for k, v in (("mean", data.mean), ("std", data.std))}


def grow_steps(cfg: Config) -> int:
    return cfg.train.grow_steps or parse_schedule(cfg.train.schedule).max


def meta_step_bytes(cfg: Config) -> int:
    """Estimated peak bytes of one meta-step, counted from the sizes alone (nothing is built): the networks of
    the batch times what autograd keeps per weight and growth step (states, the rule's activations) over the
    longest rollout, or with ``grad_checkpoint`` the states of every step and the activations of one."""
    r, t = cfg.rule, cfg.train
    weights = t.batch_per_arch * sum(sum((a + 1) * b for a, b in zip(s[:-1], s[1:])) for s in cfg.task.archs)
    d, width = 1 + r.hidden_size, max(r.widths)
    per_step = 4 * (3 * d + 2 * width + 1)                   # float32: states and updates, activations, mask
    steps = parse_schedule(t.schedule).max
    kept = steps * 4 * (d + 1) + per_step if t.grad_checkpoint else steps * per_step
    return weights * (kept + 48)                             # + the batched graph's indices

