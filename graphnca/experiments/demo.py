"""``graphnca demo``: the README's main job on iris, a few minutes on a laptop CPU.

Meta-trains three rules (sample pool; no pool, a third of the steps; pool with zero-out damage, two thirds) in
two worker processes, grows 100 fresh networks with the first, and runs the stability and robustness
experiments on them.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import Config
from .export import grow_command
from .robustness import robustness
from .stability import HORIZON, stability
from .train_cmd import train_command


def _train_one(cfg: Config, out: str) -> dict:
    torch.set_num_threads(1)
    return train_command(cfg, out, progress=False)


def demo(out, seed: int = 0, steps: int | None = None, samples: int = 100, updates: int = HORIZON,
         progress: bool = True, workers: int = 2) -> dict:
    out = Path(out)
    base = Config()
    base.rule.deadzone = 0.2      # exact fixed points: what keeps grown iris networks stable (RESULTS.md)
    base.train.seed = seed
    if steps is not None:
        base.train.steps = steps
    third = max(1, base.train.steps // 3)
    variants = {"pool": {}, "no_pool": {"pool_size": 0, "steps": third}, "damage": {"damage": 2, "steps": 2 * third}}
    jobs = {name: Config(base.rule, base.init, base.task, dataclasses.replace(base.train, **change))
            for name, change in variants.items()}
    # two worker processes, one thread each: small graphs are overhead-bound, so processes beat threads
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {name: pool.submit(_train_one, cfg, str(out / name)) for name, cfg in jobs.items()}
        trained = {name: f.result() for name, f in tqdm(futures.items(), desc="demo: meta-train 3 rules",
                                                         disable=not progress)}
    arch = base.task.archs[0]
    grown = grow_command(out / "pool" / "checkpoint.pt", arch, out / "grow", samples=samples, seed=seed,
                         progress=progress)
    stab = stability([out / "pool" / "checkpoint.pt", out / "no_pool" / "checkpoint.pt"], out / "stability",
                     updates=updates, seed=seed, progress=progress)
    rob = robustness([out / "pool" / "checkpoint.pt", out / "damage" / "checkpoint.pt"], out / "robustness",
                     seed=seed, progress=progress)
    return {"grown_test_accuracy": grown, "stability": stab, "robustness": rob,
            "meta_training_wall_s": {k: round(v["wall_s"], 1) for k, v in trained.items()}}
