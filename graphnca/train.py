"""The outer loop: meta-train the local rule by backprop through rollouts of many task networks at once."""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import distributed as ddp
from .align import alignment_loss
from .checkpoint import load_checkpoint, save_checkpoint
from .curriculum import Curriculum
from .data import TaskData, load_task
from .forward import task_forward
from .graph import WeightGraph, batch
from .grow import accuracy, grow, growth_data
from .nn.metanca_conv import MetaNCAConv
from .probe import probe_loss
from .rollout import rollout
from .rule import RuleConfig
from .runinfo import run_metadata, write_json
from .schedules import parse_schedule
from .state import InitConfig, State


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
                                     # layer (graphnca.probe): rewards hidden features before the readout uses them
    probe_ridge: float = 1e-2        # that readout's ridge penalty (features are tanh outputs, O(1))
    align_weight: float = 0.0        # add the mean over growth steps of 1 - cos(hidden-layer update, negative
                                     # task gradient on the data batch) (graphnca.align): supervises the
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


def _permuted(view, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return (x, y) if view is None else (x[:, view[0]], view[1][y])


def preprocessing(data: TaskData) -> dict:
    """The standardisation of the raw inputs (``None`` entries: none), kept with a rule so that its grown
    networks can be exported to act on raw inputs."""
    return {k: None if v is None else v.detach().cpu() for k, v in (("mean", data.mean), ("std", data.std))}


def grow_steps(cfg: Config) -> int:
    return cfg.train.grow_steps or parse_schedule(cfg.train.schedule).max


class MetaTrainer:
    """Owns the rule, optimiser, pools and RNG of one meta-training run; :meth:`run` is resumable exactly."""

    def __init__(self, cfg: Config, out: str | Path, data: TaskData | None = None):
        self.cfg, self.out = cfg, Path(out)
        t = cfg.train
        self.rank, self.world, self.device = ddp.setup(t.device)
        data = data or load_task(cfg.task.task, cfg.task.data_root, seed=t.seed)
        if cfg.init.input_shape is None and data.input_shape is not None:
            cfg.init.input_shape = data.input_shape
        check_config(cfg, data)
        self.data = data.to(self.device)
        torch.manual_seed(t.seed)                                  # rule parameter init: the same on every rank
        self.gen = torch.Generator().manual_seed(t.seed + self.rank)  # inits, pools, masks, data: per rank
        self.conv = MetaNCAConv.from_config(cfg.rule).to(self.device)
        if t.init_from:
            self._warm_start(t.init_from)
        # growth data of a conditioned rule: training examples only, drawn from the run's (checkpointed) generator
        self.stream = growth_data(self.conv, self.data.x_train, self.data.y_train, cfg.task.grow_batch, self.gen)
        self.schedule = parse_schedule(t.schedule)
        self.graphs = [cfg.task.graph(a).to(self.device) for a in cfg.task.archs]
        self.batch_graph = batch([g for g in self.graphs for _ in range(t.batch_per_arch)])
        self.curriculum = Curriculum(t, cfg.rule.hidden_size, cfg.init, self.conv, self.graphs, self.stream,
                                     self.gen, self.device)
        self.pools = self.curriculum.pools
        self.opt = torch.optim.AdamW(self.conv.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, self._lr_factor)
        self.step, self.loss_ema, self.history = 0, None, []

    # ---- pieces -----------------------------------------------------------------------------------------------
    def _warm_start(self, path) -> None:
        ck = load_checkpoint(path, map_location=self.device)
        rule = Config.from_dict(ck["config"]).rule
        # the step size bounds each update and is not a weight: a rule may continue at another step (e.g. the
        # fraction of its own step it grows best with), everything else must match the saved weights
        if replace(rule, step_size=self.cfg.rule.step_size) != self.cfg.rule:
            raise ValueError(f"init_from checkpoint {path} holds a rule with config {rule}, this run's rule is "
                             f"{self.cfg.rule} (only step_size may differ)")
        self.conv.load_state_dict(ck["rule"])

    def _lr_factor(self, step: int) -> float:
        t = self.cfg.train
        if step < t.warmup:
            return (step + 1) / t.warmup
        frac = min(1.0, (step - t.warmup) / max(1, t.steps - t.warmup))
        return t.min_lr_ratio + (1 - t.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac))

    def _data_batch(self, view=None) -> tuple[torch.Tensor, torch.Tensor]:
        d, n = self.data, self.cfg.task.data_batch
        if not n or n >= len(d.x_train):
            return _permuted(view, d.x_train, d.y_train)
        idx = torch.randint(len(d.x_train), (n,), generator=self.gen).to(self.device)
        return _permuted(view, d.x_train[idx], d.y_train[idx])

    def _task_view(self):
        """This meta-step's ``(feature permutation, class relabelling)`` when ``task.permute``, else ``None``."""
        if not self.cfg.task.permute:
            return None
        d = self.data
        return (torch.randperm(d.num_features, generator=self.gen).to(self.device),
                torch.randperm(d.num_classes, generator=self.gen).to(self.device))

    # ---- one meta-step ----------------------------------------------------------------------------------------
    def meta_step(self, initial: tuple[torch.Tensor, list] | None = None) -> dict:
        """One meta-step; ``initial = (x0, picks)`` overrides the drawn start states (tests, custom curricula)."""
        t = self.cfg.train
        self.conv.train()
        x0, picks = initial if initial is not None else self.curriculum.draw()
        steps = self.schedule(self.step, self.gen)
        view = self._task_view()
        xb, yb = self._data_batch(view)
        stream = self.stream if view is None or self.stream is None else lambda: _permuted(view, *self.stream())
        late, align, prev = [], [], [State.unpack(x0).w]     # weights of the last loss_steps; [B] per step

        def keep(k, s):
            if k > steps - t.loss_steps:
                late.append(s.w)
            if t.align_weight:
                align.append(alignment_loss(self.batch_graph, prev[0], s.w, xb, yb))
                prev[0] = s.w
        final = rollout(self.conv, self.batch_graph, State.unpack(x0), steps, checkpoint=t.grad_checkpoint,
                        generator=self.gen, callback=keep if t.loss_steps > 1 or t.align_weight else None,
                        data=stream)
        per_net = []
        for w in late or [final.w]:
            logits = task_forward(self.batch_graph, w, xb)                       # [B, N, C]
            per_net.append(F.cross_entropy(logits.transpose(1, 2), yb.expand(logits.shape[0], -1),
                                           reduction="none", label_smoothing=self.cfg.task.label_smoothing).mean(1))
        per_net = torch.stack(per_net).mean(0)                                  # [B]
        loss = per_net.mean()
        probe = None
        if t.probe_weight:
            probe = probe_loss(self.batch_graph, final.w, xb, yb, t.probe_ridge).mean()
            loss = loss + t.probe_weight * probe
        align = torch.stack(align).mean() if align else None                   # over steps and networks
        if align is not None:
            loss = loss + t.align_weight * align
        x_final = final.pack()                                                  # [E, 1 + H]
        if t.stationary_weight:   # a grown network should be a fixed point of the rule (stability far past T)
            feats = self.conv.features(self.batch_graph, x_final, stream()) if stream is not None else None
            nxt = self.conv(x_final, graph=self.batch_graph, features=feats)
            loss = loss + t.stationary_weight * ((nxt - x_final) / self.cfg.rule.step_size).pow(2).mean()
        acc = ddp.mean_scalar((logits.argmax(-1) == yb).float().mean().item(), self.device)
        self.opt.zero_grad(set_to_none=True)
        value = ddp.mean_scalar(loss.item(), self.device)     # every rank takes the same roll-back decision
        ok = math.isfinite(value) and not self._is_spike(value)
        if ok:
            loss.backward()
            ddp.average_gradients(list(self.conv.parameters()))
            ok = all(p.grad is None or torch.isfinite(p.grad).all() for p in self.conv.parameters())
        if ok:
            self._condition_gradients()
            self.opt.step()
            self.loss_ema = value if self.loss_ema is None else 0.9 * self.loss_ema + 0.1 * value
            if self.pools is not None:
                self.curriculum.commit(x_final.detach(), per_net.detach(), picks, self.step)
        else:                                                                   # roll back: nothing is kept
            self.opt.zero_grad(set_to_none=True)
        with warnings.catch_warnings():      # a rolled-back step skips opt.step() but keeps the LR on schedule
            warnings.simplefilter("ignore", UserWarning)
            self.sched.step()
        self.step += 1
        rec = {"step": self.step, "loss": value, "acc": acc, "rollout": steps, "rolled_back": not ok,
               "lr": self.sched.get_last_lr()[0]}
        if probe is not None:
            rec["probe"] = ddp.mean_scalar(probe.item(), self.device)
        if align is not None:
            rec["align"] = ddp.mean_scalar(align.item(), self.device)
        return rec

    def _is_spike(self, value: float) -> bool:
        t, ema = self.cfg.train, self.loss_ema
        return (ema is not None and self.step > t.warmup and value > t.spike_factor * ema
                and value > ema + t.spike_min_delta)

    def _condition_gradients(self) -> None:
        params = [p for p in self.conv.parameters() if p.grad is not None]
        if self.cfg.train.grad_mode == "normalize":     # GNCA: every tensor moves at the LR, whatever its scale
            for p in params:
                p.grad.div_(p.grad.norm() + 1e-8)
        else:
            torch.nn.utils.clip_grad_norm_(params, self.cfg.train.clip)

    # ---- evaluation, checkpoints, the loop --------------------------------------------------------------------
    def evaluate(self, samples: int | None = None) -> dict:
        """Test accuracy of freshly grown networks of every meta-training architecture."""
        n = samples or self.cfg.train.eval_samples
        out = {}
        for g in self.graphs:
            big, st = grow(self.conv, g, n, grow_steps(self.cfg), self.cfg.init, self.gen, data=self.stream)
            acc = accuracy(big, st.w, self.data.x_test, self.data.y_test)
            out["-".join(map(str, g.archs[0].sizes))] = {"mean": acc.mean().item(), "min": acc.min().item()}
        return out

    def state_dict(self) -> dict:
        """Everything to resume; pools and generators are per rank (lists indexed by rank)."""
        pools = ddp.gather(None if self.pools is None else [p.state_dict() for p in self.pools])
        gens = ddp.gather(self.gen.get_state())
        return {"config": self.cfg.to_dict(), "rule": self.conv.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "generators": gens, "pools": pools,
                "world_size": self.world, "step": self.step, "loss_ema": self.loss_ema, "history": self.history,
                "preprocessing": preprocessing(self.data)}

    def save(self, path: Path | None = None) -> Path:
        """Collective: every rank calls it; rank 0 writes."""
        path = path or self.out / "checkpoint.pt"
        state = self.state_dict()
        if self.rank == 0:
            save_checkpoint(path, state)
        return path

    def load(self, path) -> None:
        ck = load_checkpoint(path, map_location=self.device)
        if ck.get("rule_only"):
            raise ValueError(f"checkpoint {path} holds an exported rule only (no optimiser, pools or generators): "
                             f"it cannot resume a run; start a new one with --init-from {path}")
        saved = Config.from_dict(ck["config"])
        saved.train.steps = self.cfg.train.steps        # resuming may extend (or shorten) the run, nothing else
        if saved != self.cfg:
            raise ValueError(f"checkpoint {path} was written with a different configuration; resume with the "
                             f"same flags (only --steps may change) or start a new --out")
        self.conv.load_state_dict(ck["rule"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        # same world size: exact; another world size: rank r takes saved rank r % W's pool and a fresh stream
        saved_world = ck["world_size"]
        if self.rank < saved_world:
            self.gen.set_state(ck["generators"][self.rank])
        if self.pools is not None:
            for p, d in zip(self.pools, ck["pools"][self.rank % saved_world]):
                p.load_state_dict(d)
        self.step, self.loss_ema, self.history = ck["step"], ck["loss_ema"], list(ck["history"])

    def run(self, progress: bool = True, stop_after: int | None = None, time_limit: float | None = None) -> dict:
        """Meta-train up to ``train.steps`` (or ``stop_after`` more steps), checkpointing as configured.
        ``time_limit``: stop after the first meta-step that ends past this many seconds (a lent machine's budget),
        with a checkpoint and ``train.json`` written as at any end, so ``--resume`` continues the run exactly."""
        t = self.cfg.train
        end = t.steps if stop_after is None else min(t.steps, self.step + stop_after)
        bar = tqdm(total=t.steps, initial=self.step, disable=not progress or self.rank != 0, desc="meta-train",
                   dynamic_ncols=True)
        start, timed_out = time.perf_counter(), False
        stop = _StopOnSignal()
        try:
            with stop:
                while self.step < end and not timed_out and not stop.should_stop(self.device):
                    timed_out = self._loop_step(bar, start, end, time_limit, stop)
        finally:
            bar.close()
        summary = {"steps": self.step, "wall_s": time.perf_counter() - start,
                   "rolled_back": sum(r["rolled_back"] for r in self.history),
                   "time_limit_reached": timed_out and self.step < end,
                   "interrupted": stop.signal,
                   "final_eval": self.history[-1].get("eval") if self.history else None}
        summary["world_size"] = self.world
        if self.rank == 0:
            write_json(self.out / "train.json", {"config": self.cfg, "seed": t.seed, "meta": run_metadata(self.device),
                                                 "summary": summary, "history": self.history})
        return summary

    def _loop_step(self, bar, start: float, end: int, time_limit: float | None, stop: "_StopOnSignal") -> bool:
        """One meta-step of :meth:`run` with its evaluation and checkpoint; returns whether time ran out."""
        t, timed_out = self.cfg.train, False
        rec = self.meta_step()
        if self.rank == 0 and t.eval_every and (self.step % t.eval_every == 0 or self.step == t.steps):
            rec["eval"] = self.evaluate()
        self.history.append(rec)
        bar.update(1)
        bar.set_postfix(loss=f"{rec['loss']:.3f}", acc=f"{rec['acc']:.3f}", T=rec["rollout"])
        if time_limit is not None:     # every rank takes the same decision (any rank past the limit stops all)
            timed_out = ddp.mean_scalar(float(time.perf_counter() - start > time_limit), self.device) > 0
        if (timed_out or stop.should_stop(self.device)
                or (t.checkpoint_every and (self.step % t.checkpoint_every == 0 or self.step == end))):
            self.save()
        return timed_out


class _StopOnSignal:
    """While active, SIGINT / SIGTERM ask the loop to stop after the current meta-step (which then saves)
    instead of killing it mid-write; a second signal stops at once. Only the main thread can take signals."""

    def __init__(self):
        self.signal, self._old = None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:              # asked twice: the default behaviour
            signal.signal(signum, self._old.get(signum, signal.SIG_DFL))
            signal.raise_signal(signum)
        self.signal = signal.Signals(signum).name
        print(f"\n{self.signal}: stopping after this meta-step, with a checkpoint", file=sys.stderr)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def should_stop(self, device) -> bool:
        return ddp.mean_scalar(float(self.signal is not None), device) > 0
