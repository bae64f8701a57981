"""Configuration of a meta-training run, one dataclass per concern: the task, the outer optimisation, and the
whole (with the rule's :class:`~graphnca.RuleConfig` and the init's :class:`~graphnca.InitConfig`). Plain data:
growing and evaluating read it without importing the trainer."""
from __future__ import annotations

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
    permute: bool = False           # each meta-step permutes input features and class labels (one draw for the
                                    # step): a data-conditioned rule cannot memorise the task, it must read the data

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
    pool_replace_every: int = 25     # every N meta-steps the worst pooled state gives way to a freshly grown one
    pool_age: int = 0                # age curriculum: pooled states drawn for a batch first run U{0..N} extra
                                     # updates without gradient, so the rule meets states far older than its
                                     # rollouts (an option: on iris the dead zone did far more, see RESULTS.md)
    damage: int = 0                  # pooled samples per architecture hit by zero-out damage each meta-step
    damage_p: float = 0.3            # fraction of the other weights zeroed besides one whole layer
    damage_grow: int = 0             # > 0: the damaged samples are fresh networks grown this many updates
                                     # (no gradient) and then damaged, as `graphnca robustness` does, instead
                                     # of pooled ones; they are not written back to the pool
    damage_from_pool: int = 0        # with damage_grow: this many of the damaged samples are pooled states of
                                     # every age instead (regrowth after late damage is trained too)
    grad_mode: str = "normalize"     # normalize: per-parameter unit-norm gradients; clip: global norm clip
    clip: float = 1.0
    spike_factor: float = 5.0        # roll back a step whose loss > factor * running mean ...
    spike_min_delta: float = 0.5     # ... and > running mean + this (tiny running means are not spikes)
    loss_steps: int = 5              # average the task loss over the last N rollout steps (penalises oscillation)
    stationary_weight: float = 1.0   # penalise one further update of the grown state: the rule learns to stop
    probe_weight: float = 0.0        # add the held-out error of a closed-form ridge readout of the last hidden
                                     # layer (graphnca.meta.probe): rewards hidden features before the readout uses them
    probe_ridge: float = 1e-2        # that readout's ridge penalty (features are tanh outputs, O(1))
    align_weight: float = 0.0        # add the mean over growth steps of 1 - cos(hidden-layer update, negative
                                     # task gradient on the data batch) (graphnca.meta.align): supervises the
                                     # direction of hidden-layer learning, which the task loss alone does not find
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
        def tup(v):
            return tuple(tup(x) for x in v) if isinstance(v, (list, tuple)) else v
        # checkpoints older than the dead zone ran without one (whatever today's default)
        rule = RuleConfig(**{"deadzone": 0.0, **d["rule"], "widths": tup(d["rule"]["widths"])})
        init = InitConfig(**{**d["init"], "input_shape": tup(d["init"]["input_shape"])})
        task = TaskConfig(**{**d["task"], "archs": tup(d["task"]["archs"])})
        return Config(rule, init, task, TrainConfig(**d["train"]))


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
    if t.pool_size and not (t.batch_per_arch - t.pool_fresh <= t.pool_size and t.pool_age >= 0
                            and t.pool_fresh + t.damage <= t.batch_per_arch and t.pool_replace_every >= 1):
        raise ValueError("need batch_per_arch - pool_fresh <= pool_size, pool_fresh + damage <= batch_per_arch "
                         "and pool_replace_every >= 1, pool_age >= 0")
    if t.probe_weight < 0 or not t.probe_ridge > 0:
        raise ValueError(f"need probe_weight >= 0 and probe_ridge > 0, got {t.probe_weight} and {t.probe_ridge}")
    if t.align_weight < 0:
        raise ValueError(f"need align_weight >= 0, got {t.align_weight}")
    shallow = [list(a) for a in cfg.task.archs if len(a) < 3]
    for name in ("probe_weight", "align_weight"):           # both losses score hidden layers
        if getattr(t, name) and shallow:
            raise ValueError(f"{name} > 0 needs a hidden layer in every architecture, got {shallow}")
    if t.damage_grow and not (t.damage and t.pool_size):
        raise ValueError(f"damage_grow={t.damage_grow} needs damage > 0 and a sample pool (pool_size > 0)")
    if t.damage_grow < 0:
        raise ValueError(f"damage_grow must be >= 0, got {t.damage_grow}")
    if t.damage_from_pool and not (t.damage_grow and 0 < t.damage_from_pool < t.damage):
        raise ValueError(f"damage_from_pool={t.damage_from_pool} needs damage_grow > 0 and 0 < damage_from_pool < "
                         f"damage (without damage_grow every damaged sample is pooled)")
    parse_schedule(t.schedule)


def preprocessing(data: TaskData) -> dict:
    """The standardisation of the raw inputs (``None`` entries: none), kept with a rule so that its grown
    networks can be exported to act on raw inputs."""
    return {k: None if v is None else v.detach().cpu() for k, v in (("mean", data.mean), ("std", data.std))}


def grow_steps(cfg: Config) -> int:
    return cfg.train.grow_steps or parse_schedule(cfg.train.schedule).max
