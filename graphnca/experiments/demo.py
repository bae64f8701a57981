"""``graphnca demo``: the README's main job on iris, a few minutes on a laptop CPU.

Meta-trains three rules (sample pool; no pool; pool with zero-out damage), grows 100 fresh networks with the
first, and runs the stability and robustness experiments on them.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..train import Config
from .export import grow_command
from .robustness import robustness
from .stability import stability
from .train_cmd import train_command


def demo(out, seed: int = 0, steps: int | None = None, samples: int = 100, updates: int = 10_000,
         progress: bool = True) -> dict:
    out = Path(out)
    base = Config()
    base.train.seed = seed
    if steps is not None:
        base.train.steps = steps
    variants = {"pool": {}, "no_pool": {"pool_size": 0}, "damage": {"damage": 2}}
    trained = {}
    for name, change in variants.items():
        cfg = Config(base.rule, base.init, base.task, dataclasses.replace(base.train, **change))
        trained[name] = train_command(cfg, out / name, progress=progress)
    arch = base.task.archs[0]
    grown = grow_command(out / "pool" / "checkpoint.pt", arch, out / "grow", samples=samples, seed=seed)
    stab = stability([out / "pool" / "checkpoint.pt", out / "no_pool" / "checkpoint.pt"], out / "stability",
                     updates=updates, seed=seed, progress=progress)
    rob = robustness([out / "pool" / "checkpoint.pt", out / "damage" / "checkpoint.pt"], out / "robustness",
                     seed=seed, progress=progress)
    return {"grown_test_accuracy": grown, "stability": stab, "robustness": rob,
            "meta_training_wall_s": {k: round(v["wall_s"], 1) for k, v in trained.items()}}
