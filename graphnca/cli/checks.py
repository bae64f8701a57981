"""What every command checks before it touches a file: its rules load and fit the architecture and task, its
numbers are in range, its data folder holds the files, and a training run fits in memory. A failure here is one
``ValueError`` and nothing in ``--out`` has changed (not even with ``--force``)."""
from __future__ import annotations

import argparse
import math

from ..checkpoint import load_checkpoint
from ..config import Config, check_ranges, meta_step_bytes
from ..data import check_arch, check_data_root
from ..runinfo import memory_budget, resolve_device


def _gib(value: float | None) -> int:
    return memory_budget() if value is None else int(value * 2 ** 30)


def check_train(cfg: Config, args: argparse.Namespace) -> None:
    check_ranges(cfg)
    for arch in cfg.task.archs:
        check_arch(cfg.task.task, arch)
    check_data_root(cfg.task.task, cfg.task.data_root)
    if cfg.train.init_from:
        from ..pretrained import rule_path
        load_checkpoint(rule_path(cfg.train.init_from))
    if cfg.train.device:
        resolve_device(cfg.train.device)
    need, budget = meta_step_bytes(cfg), _gib(args.max_memory)
    if need > budget:
        raise ValueError(f"a meta-step of this configuration needs about {need / 2 ** 30:.1f} GiB, over the "
                         f"{budget / 2 ** 30:.1f} GiB budget (--max-memory); train fewer or smaller networks, "
                         f"shorter rollouts or with grad_checkpoint=true")


def resume_position(args: argparse.Namespace, cfg: Config) -> int:
    """The step of ``OUT/checkpoint.pt`` for ``--resume``: ``ValueError`` when there is none, it was written with
    another configuration (only ``--steps`` may change), or it is past ``--steps``."""
    from pathlib import Path
    ckpt = Path(args.out) / "checkpoint.pt"
    if not ckpt.exists():
        raise ValueError(f"--resume given but {ckpt} does not exist")
    ck, steps = load_checkpoint(ckpt), cfg.train.steps
    saved, mine = Config.from_dict(ck["config"]), Config.from_dict(cfg.to_dict())
    saved.train.steps = steps
    if mine.init.input_shape is None:           # the trainer fills it in from the data (images: 28 x 28)
        mine.init.input_shape = saved.init.input_shape
    if saved != mine:
        raise ValueError(f"checkpoint {ckpt} was written with a different configuration; resume with the same "
                         f"flags (only --steps may change) or start a new --out")
    step = int(ck.get("step") or 0)
    if step > steps:
        raise ValueError(f"{ckpt} is at meta-step {step}, past --steps {steps}: nothing to resume (pass a larger "
                         f"--steps to continue it)")
    return step


def load_rules(args: argparse.Namespace) -> list:
    """Every ``--rule`` of a growing command, loaded and checked against ``--arch`` and the task before any of
    them runs: ``[(path, conv, cfg)]``."""
    from ..experiments.common import load_rule
    paths = args.rule if isinstance(args.rule, list) else [args.rule]
    out = []
    for path in paths:
        conv, cfg = load_rule(path)
        task = getattr(args, "task", None) or cfg.task.task
        arch = getattr(args, "arch", None)
        if arch is not None:
            check_arch(task, arch)
        test_only = (args.command == "heatmap" and args.baseline == "none" and cfg.rule.condition == "none")
        check_data_root(task, getattr(args, "data_root", None), ("test",) if test_only else ("train", "test"))
        out.append((path, conv, cfg))
    return out


def check_growing(args: argparse.Namespace) -> None:
    resolve_device(args.device)
    if hasattr(args, "step_scale"):                            # grow and heatmap
        from ..experiments.common import check_step_scales
        from ..schedules import StepSchedule
        check_step_scales(args.step_scale, args.hidden_state_scale)
        v = args.hidden_step_scale
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise ValueError(f"hidden step scale must be a finite number >= 0, got {v}")
        if args.step_schedule is not None:
            schedule = StepSchedule.parse(args.step_schedule)
            if args.steps is not None and args.steps != schedule.steps:
                raise ValueError(f"steps={args.steps} does not match the step schedule {schedule}, which grows "
                                 f"{schedule.steps}")
    load_rules(args)
