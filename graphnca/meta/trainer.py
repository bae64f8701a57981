"""The outer loop: meta-train the local rule by backprop through rollouts of many task networks at once."""
from __future__ import annotations

import math
import signal
import sys
import threading
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import distributed as ddp
from ..checkpoint import load_checkpoint, save_checkpoint
from .curriculum import Curriculum
from ..data import TaskData, load_task
from ..forward import task_forward
from ..graph import batch
from ..grow import accuracy, grow, growth_data
from ..nn.metanca_conv import MetaNCAConv
from ..grow import rollout
# the configs are re-exported: a run's settings and its trainer are one import away
from ..config import Config, TaskConfig, TrainConfig, check_config, grow_steps, preprocessing  # noqa: F401
from ..runinfo import run_metadata, write_json
from ..schedules import parse_schedule
from ..state import State


MAX_ROLLED_BACK = 25     # consecutive rolled-back meta-steps after which a run stops with an error


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
        self.curriculum = Curriculum(t, cfg.rule.hidden_size, cfg.init, self.graphs, self.gen, self.device)
        self.pools = self.curriculum.pools
        self.opt = torch.optim.AdamW(self.conv.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, self._lr_factor)
        self.step, self.loss_ema, self.history = 0, None, []
        self.wall_s = 0.0                        # meta-training seconds over every chunk of a resumed run

    # ---- pieces -----------------------------------------------------------------------------------------------
    def _warm_start(self, path) -> None:
        from ..pretrained import rule_path                 # a pretrained rule's name works as well as a file
        ck = load_checkpoint(rule_path(path), map_location=self.device)
        rule = Config.from_dict(ck["config"]).rule
        # the step size, the dead zone and the fire rate shape the dynamics but are not weights: a rule may continue
        # with others (a stable variant adds a dead zone), everything else must match the saved weights
        mine = self.cfg.rule
        if replace(rule, step_size=mine.step_size, deadzone=mine.deadzone, fire_rate=mine.fire_rate) != mine:
            raise ValueError(f"init_from checkpoint {path} holds a rule with config {rule}, this run's rule is "
                             f"{mine} (only step_size, deadzone and fire_rate may differ)")
        self.conv.load_state_dict(ck["rule"])

    def _lr_factor(self, step: int) -> float:
        t = self.cfg.train
        if step < t.warmup:
            return (step + 1) / t.warmup
        frac = min(1.0, (step - t.warmup) / max(1, t.steps - t.warmup))
        return t.min_lr_ratio + (1 - t.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac))

    def _data_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        d, n = self.data, self.cfg.task.data_batch
        if not n or n >= len(d.x_train):
            return d.x_train, d.y_train
        idx = torch.randint(len(d.x_train), (n,), generator=self.gen).to(self.device)
        return d.x_train[idx], d.y_train[idx]

    # ---- one meta-step ----------------------------------------------------------------------------------------
    def meta_step(self, initial: tuple[torch.Tensor, list] | None = None) -> dict:
        """One meta-step; ``initial = (x0, picks)`` overrides the drawn start states (tests, custom curricula)."""
        t = self.cfg.train
        self.conv.train()
        x0, picks = initial if initial is not None else self.curriculum.draw()
        steps = self.schedule(self.step, self.gen)
        xb, yb = self._data_batch()
        stream = self.stream
        late = []                                            # weights of the last loss_steps; [B] per step

        def keep(k, s):
            if k > steps - t.loss_steps:
                late.append(s.w)
        final = rollout(self.conv, self.batch_graph, State.unpack(x0), steps, checkpoint=t.grad_checkpoint,
                        generator=self.gen, callback=keep if t.loss_steps > 1 else None, data=stream)
        per_net = []
        for w in late or [final.w]:
            logits = task_forward(self.batch_graph, w, xb)                       # [B, N, C]
            per_net.append(F.cross_entropy(logits.transpose(1, 2), yb.expand(logits.shape[0], -1),
                                           reduction="none", label_smoothing=self.cfg.task.label_smoothing).mean(1))
        per_net = torch.stack(per_net).mean(0)                                  # [B]
        loss = per_net.mean()
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
        return {"step": self.step, "loss": value, "acc": acc, "rollout": steps, "rolled_back": not ok,
                "lr": self.sched.get_last_lr()[0]}

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
                "wall_s": self.wall_s, "preprocessing": preprocessing(self.data)}

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
        self.wall_s = float(ck.get("wall_s", 0.0))

    def run(self, progress: bool = True, stop_after: int | None = None, time_limit: float | None = None,
            on_step=None) -> dict:
        """Meta-train up to ``train.steps`` (or ``stop_after`` more steps), checkpointing as configured.
        ``time_limit``: stop after the first meta-step that ends past this many seconds (a lent machine's budget),
        with a checkpoint and ``train.json`` written as at any end, so ``--resume`` continues the run exactly."""
        t = self.cfg.train
        end = t.steps if stop_after is None else min(t.steps, self.step + stop_after)
        bar = tqdm(total=t.steps, initial=self.step, disable=not progress or self.rank != 0, desc="meta-train",
                   dynamic_ncols=True)
        start, timed_out = time.perf_counter(), False
        self._chunk_start, self._wall_before = start, self.wall_s
        stop = _StopOnSignal()
        try:
            with stop:
                while self.step < end and not timed_out and not stop.should_stop(self.device):
                    timed_out = self._loop_step(bar, start, end, time_limit, stop)
                    if on_step is not None:            # e.g. a parent process's progress bar
                        on_step(self.step, t.steps)
        finally:
            bar.close()
        self.wall_s = self._wall_before + time.perf_counter() - start
        summary = {"steps": self.step, "wall_s": time.perf_counter() - start, "total_wall_s": self.wall_s,
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
        self.wall_s = self._wall_before + time.perf_counter() - self._chunk_start
        recent = self.history[-(MAX_ROLLED_BACK - 1):] + [rec]
        if len(recent) >= MAX_ROLLED_BACK and all(r["rolled_back"] for r in recent):
            raise ValueError(f"meta-training stopped at step {self.step}: the last {MAX_ROLLED_BACK} meta-steps were "
                             f"all rolled back (a NaN/Inf or spiking loss: check the data and the learning rate); "
                             f"the last checkpoint written is the last good state")
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
