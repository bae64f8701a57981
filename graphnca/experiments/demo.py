"""``graphnca demo``: the source's three results, offline, in minutes on a 2-core CPU.

1. **Figure 2**: the shipped data-free ``mnist`` rule grows every ``[784, X, Y, 10]`` network of a 10 x 10 grid
   (X, Y in 10..100) in its 10 steps; the MNIST test set that ships with the package scores them.
2. **Table 1**: iris rules meta-trained with and without a sample pool, each grown network then updated
   ``updates`` times: how many updates stay within 10 % of the minimum loss.
3. **Figure 3**: zero-out of one layer plus 30 % of the other weights after growth, and regrowth: iris (a pool
   rule and one meta-trained with damage) and, once shipped, MNIST with ``mnist-robust``.

The three iris rules meta-train in two worker processes while the parent shows each one's meta-steps; the grid
runs after them. Ends with one rounded table beside the source's figures (``demo.json``, ``demo.png``).
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import queue
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import Config
from ..pretrained import RULES
from .common import finish
from .heatmap import heatmap
from .robustness import robustness
from .stability import HORIZON, stability
from .train_cmd import train_command

# the source's figures the demo reproduces (its abstract and Table 1)
SOURCE = {"grid_mean": 0.848, "stable_updates_pool": 965, "stable_updates_no_pool": 13}
IRIS_STEPS = 3000        # meta-steps of the pool rule; the no-pool rule gets a third, the damage rule two thirds


def _train_one(cfg: Config, out: str, name: str, progress) -> dict:
    torch.set_num_threads(1)

    def tell(step, total):
        if step % 25 == 0 or step == total:
            progress.put((name, step, total))
    return train_command(cfg, out, progress=False, on_step=tell)


def iris_rules(seed: int, steps: int | None) -> dict[str, Config]:
    """The three iris recipes: sample pool; no pool (a third of the steps); pool with zero-out damage (two thirds).
    A dead zone of 0.2 makes grown networks exact fixed points of the rule (RESULTS.md, stability ablation)."""
    base = Config()
    base.rule.deadzone = 0.2
    base.train.seed = seed
    base.train.steps = steps or IRIS_STEPS
    third = max(1, base.train.steps // 3)
    variants = {"pool": {}, "no_pool": {"pool_size": 0, "steps": third}, "damage": {"damage": 2, "steps": 2 * third}}
    return {name: Config(base.rule, base.init, base.task, dataclasses.replace(base.train, **change))
            for name, change in variants.items()}


def _meta_train(out: Path, jobs: dict[str, Config], workers: int, progress: bool) -> dict:
    """Train ``jobs`` in ``workers`` processes (one thread each), a progress bar per rule fed by the workers."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        news = manager.Queue()
        futures = {name: pool.submit(_train_one, cfg, str(out / name), name, news) for name, cfg in jobs.items()}
        bars = {name: tqdm(total=cfg.train.steps, desc=f"demo 1/3: meta-train iris rule '{name}'", position=i,
                           disable=not progress, leave=True) for i, (name, cfg) in enumerate(jobs.items())}
        while not all(f.done() for f in futures.values()):
            try:
                name, step, _ = news.get(timeout=0.5)
                bars[name].update(step - bars[name].n)
            except queue.Empty:
                pass
        for bar in bars.values():
            bar.close()
        return {name: f.result() for name, f in futures.items()}


def demo(out, seed: int = 0, steps: int | None = None, samples: int = 100, updates: int = HORIZON,
         hidden=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100), grid_samples: int = 4, data_root=None,
         progress: bool = True, workers: int = 2) -> dict:
    out, t0 = Path(out), time.perf_counter()
    trained = _meta_train(out, iris_rules(seed, steps), workers, progress)
    t_train = time.perf_counter() - t0
    grid = heatmap("mnist", hidden, out / "grid", samples=grid_samples, data_root=data_root, seed=seed,
                   progress=progress)
    t_grid = time.perf_counter() - t0 - t_train
    pool, no_pool, damage = (out / n / "checkpoint.pt" for n in ("pool", "no_pool", "damage"))
    stab = stability([pool, no_pool], out / "stability", updates=updates, samples=20, seed=seed, progress=progress)
    rob = robustness([pool, damage], out / "robustness", seed=seed, samples=20, progress=progress)
    mnist_rob = None
    if "mnist-robust" in RULES:
        mnist_rob = robustness(["mnist", "mnist-robust"], out / "robustness_mnist", arch=(784, 100, 100, 10),
                               samples=20, seed=seed, data_root=data_root, progress=progress, steps=10, after=10)
    rows = [
        {"figure": f"MNIST grid mean, [784, X, Y, 10], X, Y in {hidden[0]}..{hidden[-1]}, 10 growth steps",
         "this run": grid["grown_mean"], "source": SOURCE["grid_mean"]},
        {"figure": f"iris, updates of {updates:,} within 10 % of the minimum loss: with a sample pool",
         "this run": stab[0]["updates_within_10pct"], "source": SOURCE["stable_updates_pool"]},
        {"figure": "the same without a pool", "this run": stab[1]["updates_within_10pct"],
         "source": SOURCE["stable_updates_no_pool"]},
        {"figure": "iris zero-out: updates back to 99 % (pool rule / damage rule)",
         "this run": f"{rob[0]['updates_to_99pct'] or 'never'} / {rob[1]['updates_to_99pct'] or 'never'}",
         "source": "regrowth curve (Figure 3)"},
    ]
    if mnist_rob is not None:
        rows.append({"figure": "MNIST zero-out, 784-100-100-10: updates back to 99 % (mnist / mnist-robust)",
                     "this run": f"{mnist_rob[0]['updates_to_99pct'] or 'never'} / "
                                 f"{mnist_rob[1]['updates_to_99pct'] or 'never'}",
                     "source": "regrowth curve (Figure 3)"})
    figures = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    record = {"seed": seed, "rows": rows, "grid": grid, "stability": stab, "robustness": rob,
              "robustness_mnist": mnist_rob, "figures": figures + ["demo.png"],
              "wall_s": {"meta_train": t_train, "grid": t_grid, "total": time.perf_counter() - t0},
              "meta_training": {k: {"steps": v["steps"], "wall_s": v["wall_s"]} for k, v in trained.items()},
              "paths": {"grid": "grid/heatmap.json", "stability": "stability/stability.json",
                        "robustness": "robustness/robustness.json"}}
    finish(out, "demo", record, plot_demo)
    return rows              # the CLI prints them as one rounded table, then the folder and every PNG


def plot_demo(d: dict, plt):
    """The summary table as a figure (every panel of the source's figures is its own PNG in the folder)."""
    rows = d["rows"]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.2))
    ax.axis("off")
    cells = [[r["figure"], _cell(r["this run"]), _cell(r["source"])] for r in rows]
    t = ax.table(cellText=cells, colLabels=["figure", "this run", "source"], loc="center", cellLoc="left",
                 colWidths=[0.66, 0.14, 0.2])
    t.auto_set_font_size(False)
    t.set_fontsize(8)
    t.scale(1, 1.4)
    ax.set_title(f"graphnca demo (seed {d['seed']}, {d['wall_s']['total']:.0f} s): the source's three results",
                 fontsize=10)
    return fig


def _cell(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
