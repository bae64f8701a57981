"""``graphnca demo``: the source's three results, offline, in minutes on a 2-core CPU.

1. **Figure 2**: the shipped data-free ``mnist`` rule grows every ``[784, X, Y, 10]`` network of a 10 x 10 grid
   (X, Y in 10..100) in its 10 steps; the MNIST test set that ships with the package scores them.
2. **Table 1**: iris rules meta-trained with and without a sample pool, each grown network then updated
   ``updates`` times: how many updates stay within 10 % of the minimum loss.
3. **Figure 3**: zero-out of one layer plus 30 % of the other weights after growth, and regrowth: iris (a pool
   rule and one meta-trained with damage) and, once shipped, MNIST with ``mnist-robust``.

Two worker processes of one thread each run the phases (the three iris rules meta-train beside the grid, then
stability beside regrowth) while the parent shows a progress bar per job. Ends with one rounded table beside the
source's figures (``demo.json``, ``demo.png``).
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
from ..runinfo import reuse_freed_memory
from .common import finish
from .heatmap import heatmap
from .robustness import robustness
from .stability import HORIZON, stability
from .train_cmd import train_command

# the source's figures the demo reproduces (its abstract and Table 1)
SOURCE = {"grid_mean": 0.848, "stable_updates_pool": 965, "stable_updates_no_pool": 13}
IRIS_STEPS = 1500        # meta-steps of the pool rule; the no-pool rule gets a third, the damage rule two thirds


def _job(fn, kwargs: dict, name: str, news) -> object:
    """One phase of the demo in a worker process (one thread: small graphs are overhead-bound, and two busy
    processes on two cores beat threads), reporting ``(name, done, total)`` to the parent's progress bars."""
    torch.set_num_threads(1)
    reuse_freed_memory()
    return fn(**kwargs, progress=lambda done, total: news.put((name, done, total)))


def _train(cfg: Config, out: str, progress) -> dict:
    return train_command(cfg, out, progress=False,
                         on_step=lambda step, total: (step % 25 == 0 or step == total) and progress(step, total))


def _run_jobs(jobs: dict, workers: int, progress: bool) -> dict:
    """``{name: (fn, kwargs, label)}`` in ``workers`` processes, in order, a progress bar per job."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        news = manager.Queue()
        futures = {name: pool.submit(_job, fn, kw, name, news) for name, (fn, kw, _) in jobs.items()}
        bars = {name: tqdm(total=1, desc=label, position=i, disable=not progress, leave=True)
                for i, (name, (_, _, label)) in enumerate(jobs.items())}
        while not all(f.done() for f in futures.values()):
            try:
                name, done, total = news.get(timeout=0.5)
                bars[name].total = total
                bars[name].update(done - bars[name].n)
            except queue.Empty:
                pass
        for bar in bars.values():
            bar.close()
        return {name: f.result() for name, f in futures.items()}


def iris_rules(seed: int, steps: int | None) -> dict[str, Config]:
    """The three iris recipes: sample pool; no pool (a third of the steps); pool with zero-out damage (two thirds).
    A dead zone of 0.2 makes grown networks exact fixed points of the rule (RESULTS.md, stability ablation). On
    this one small architecture the ``incident`` neighbourhood settles the pool rule far better than the default
    ``consecutive`` (19,991 against 384 of 20,000 updates within 10 %, one run each at 1500 meta-steps)."""
    base = Config()
    base.rule.deadzone = 0.2
    base.rule.neighbourhood = "incident"
    base.train.seed = seed
    base.train.steps = steps or IRIS_STEPS
    third = max(1, base.train.steps // 3)
    variants = {"pool": {}, "no_pool": {"pool_size": 0, "steps": third}, "damage": {"damage": 2, "steps": 2 * third}}
    return {name: Config(base.rule, base.init, base.task, dataclasses.replace(base.train, **change))
            for name, change in variants.items()}


def demo(out, seed: int = 0, steps: int | None = None, updates: int = HORIZON,
         hidden=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100), grid_samples: int = 4, data_root=None,
         progress: bool = True, workers: int = 2) -> list[dict]:
    out, t0 = Path(out), time.perf_counter()
    rules = iris_rules(seed, steps)
    # phase 1: the three iris rules meta-train while the shipped MNIST rule grows the grid
    first = {"pool": (_train, {"cfg": rules["pool"], "out": str(out / "pool")},
                      "demo 1/2: meta-train iris rule 'pool'"),
             "grid": (heatmap, {"rule": "mnist", "hidden": hidden, "out": out / "grid", "samples": grid_samples,
                                "data_root": data_root, "seed": seed}, "demo 1/2: MNIST grid, shipped 'mnist' rule"),
             "no_pool": (_train, {"cfg": rules["no_pool"], "out": str(out / "no_pool")},
                         "demo 1/2: meta-train iris rule 'no_pool'"),
             "damage": (_train, {"cfg": rules["damage"], "out": str(out / "damage")},
                        "demo 1/2: meta-train iris rule 'damage'")}
    done = _run_jobs(first, workers, progress)
    t_first = time.perf_counter() - t0
    pool, no_pool, damage = (out / n / "checkpoint.pt" for n in ("pool", "no_pool", "damage"))
    # phase 2: stability with and without the pool, and regrowth after zero-out
    second = {"stability": (stability, {"rules": [pool, no_pool], "out": out / "stability", "updates": updates,
                                        "samples": 20, "seed": seed}, "demo 2/2: stability, iris (Table 1)"),
              "robustness": (robustness, {"rules": [pool, damage], "out": out / "robustness", "samples": 20,
                                          "seed": seed}, "demo 2/2: zero-out and regrowth, iris (Figure 3)")}
    if "mnist-robust" in RULES:
        second["robustness_mnist"] = (robustness, {"rules": ["mnist", "mnist-robust"], "arch": (784, 100, 100, 10),
                                                   "out": out / "robustness_mnist", "samples": 20, "seed": seed,
                                                   "data_root": data_root, "steps": 10, "after": 10},
                                      "demo 2/2: zero-out and regrowth, MNIST (Figure 3)")
    done |= _run_jobs(second, workers, progress)
    grid, stab, rob, mnist_rob = done["grid"], done["stability"], done["robustness"], done.get("robustness_mnist")
    rows = [
        {"figure": f"MNIST grid mean, [784, X, Y, 10], X, Y in {hidden[0]}..{hidden[-1]}, 10 growth steps",
         "this run": grid["grown_mean"], "source": SOURCE["grid_mean"]},
        {"figure": f"iris, updates of {updates:,} within 10 % of the minimum loss: with a sample pool",
         "this run": stab[0]["updates_within_10pct"], "source": SOURCE["stable_updates_pool"]},
        {"figure": "the same without a pool", "this run": stab[1]["updates_within_10pct"],
         "source": SOURCE["stable_updates_no_pool"]},
        {"figure": "iris zero-out: updates back to 99 % (pool rule / damage rule)",
         "this run": f"{_regrowth(rob[0])} / {_regrowth(rob[1])}",
         "source": "regrowth curve (Figure 3)"},
    ]
    if mnist_rob is not None:
        rows.append({"figure": "MNIST zero-out, 784-100-100-10: updates back to 99 % (mnist / mnist-robust)",
                     "this run": f"{_regrowth(mnist_rob[0])} / {_regrowth(mnist_rob[1])}",
                     "source": "regrowth curve (Figure 3)"})
    figures = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    record = {"seed": seed, "rows": rows, "figures": figures + ["demo.png"],
              "wall_s": {"phase_1": t_first, "total": time.perf_counter() - t0},
              "meta_training": {k: {"steps": done[k]["steps"], "wall_s": done[k]["wall_s"]}
                                for k in ("pool", "no_pool", "damage")},
              "results": {"grid": "grid/heatmap.json", "stability": "stability/stability.json",
                          "robustness": "robustness/robustness.json"}
              | ({"robustness_mnist": "robustness_mnist/robustness.json"} if mnist_rob is not None else {})}
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


def _regrowth(r: dict) -> str:
    """Updates back to 99 % of the pre-damage accuracy, or where the accuracy ended when it never got there."""
    return str(r["updates_to_99pct"]) if r["updates_to_99pct"] else f"never ({r['final']:.2f} of {r['before']:.2f})"


def _cell(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
