"""Step-scale calibration: does a rule grow better networks on a new task or width with smaller updates?

Usage: ``python benchmarks/step_scale.py --rule CKPT [--task fashion-mnist] [--data-root DIR]
[--arch 784,300,300,10] [--scales 1,0.5,0.3,0.2] [--hidden-scales same,0] [--hidden-state-scales same,0.2]
[--steps 100,300,1000] [--samples 2] [--val 10000]``.

A rule's step size ``s`` bounds every update (``RuleConfig.step_size``) and was fixed by meta-training on its
own task and widths. This script grows ``--samples`` networks at each multiple ``k`` of it (``graphnca grow
--step-scale k``) and picks ``k`` the way one would pick an optimiser's learning rate on a new task: on a
validation split carved (seeded) from the task's *training* set, which growth never sees — growth reads mini-batches
from the rest. The test set is only reported, never used for the choice: the selected row is the one with the best
validation accuracy at the longest growth length. ``--hidden-scales`` also tries other multiples for the weights
before the output layer (``graphnca grow --hidden-step-scale``): ``same`` as the output's, or a number (0 freezes
the hidden layers, so growth trains the readout of the random initial ones). ``--hidden-state-scales`` sets the
multiple for those weights' hidden states apart (``graphnca grow --hidden-state-scale``; ``same`` as their weights'),
e.g. ``--hidden-scales 0 --hidden-state-scales 0.2``: frozen hidden weights whose states still evolve.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from _util import growth_flags, parse_run_args, report, table

import graphnca
from graphnca.experiments.common import load_rule, task_data
from graphnca.grow import accuracy, grow, growth_data, growth_scale
from graphnca.runinfo import resolve_device


def split_train(x, y, val: int, gen: torch.Generator):
    """``(x_grow, y_grow, x_val, y_val)``: a seeded random split of a training set."""
    if not 0 < val < len(x):
        raise ValueError(f"--val must be between 1 and {len(x) - 1} (the training set size - 1), got {val}")
    perm = torch.randperm(len(x), generator=gen)
    return x[perm[val:]], y[perm[val:]], x[perm[:val]], y[perm[:val]]


def select(rows: list[dict]) -> dict:
    """The row with the best mean validation accuracy at the longest growth length (ties: the larger scales)."""
    last = max(r["steps"] for r in rows)
    return max((r for r in rows if r["steps"] == last),
               key=lambda r: (r["val_mean"], r["scale"], r.get("hidden_scale", r["scale"]), _state(r)))


def _state(r: dict) -> float:
    """The hidden states' multiple of a row (rows before ``--hidden-state-scales`` moved them with the weights)."""
    s = r.get("hidden_state_scale")
    return r.get("hidden_scale", r["scale"]) if s is None else s


def label(r: dict) -> str:
    h, st = r.get("hidden_scale", r["scale"]), _state(r)
    return (f"step scale {r['scale']:g}" + ("" if h == r["scale"] else f", hidden {h:g}")
            + ("" if st == h else f", hidden states {st:g}"))


def plot(d, plt):
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(label(r) for r in d["rows"]):
        r = [x for x in d["rows"] if label(x) == name]
        line, = ax.plot([x["steps"] for x in r], [x["test_mean"] for x in r], "o-", label=name)
        ax.plot([x["steps"] for x in r], [x["val_mean"] for x in r], ":", color=line.get_color())
    c = d["config"]
    ax.set(xscale="log", xlabel="growth steps", ylabel="accuracy (solid: test, dotted: validation)")
    ax.set_title(f"{c['task'] or 'rule task'} {c['arch']}: selected {label(d['selected'])}", fontsize=8)
    ax.legend(fontsize=7)
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    growth_flags(ap, arch="784,300,300,10", samples=2, steps="100,300,1000")
    ap.add_argument("--scales", default="1,0.5,0.3,0.2", help="multiples of the rule's step size to try")
    ap.add_argument("--hidden-scales", default="same",
                    help="multiples for the weights before the output layer: 'same' (as the output's) or numbers")
    ap.add_argument("--hidden-state-scales", default="same",
                    help="multiples for those weights' hidden states: 'same' (as their weights') or numbers")
    ap.add_argument("--val", type=int, default=10000, help="training examples held out for the choice")
    ap.add_argument("--device", default="cpu", help="grow there (initial networks and batches are drawn on the CPU, "
                                                    "so a seed gives the same ones on every device)")
    a = parse_run_args(ap, argv)
    scales = [float(v) for v in a.scales.split(",")]
    steps = sorted({int(v) for v in a.steps.split(",")})
    hidden = [None if v == "same" else float(v) for v in a.hidden_scales.split(",")]
    states = [None if v == "same" else float(v) for v in a.hidden_state_scales.split(",")]
    if (not all(k > 0 for k in scales) or steps[0] < 1
            or not all(h is None or h >= 0 for h in hidden + states)):
        raise ValueError(f"--scales must be > 0, --hidden-scales and --hidden-state-scales 'same' or >= 0 and "
                         f"--steps >= 1, got {a.scales}, {a.hidden_scales}, {a.hidden_state_scales} and {a.steps}")
    dev = resolve_device(a.device)
    conv, cfg = load_rule(a.rule)
    conv = conv.to(dev)
    data = task_data(cfg, task=a.task, data_root=a.data_root).to(dev)
    x_grow, y_grow, x_val, y_val = split_train(data.x_train, data.y_train, a.val,
                                               torch.Generator().manual_seed(a.seed))
    graph = graphnca.WeightGraph.from_sizes([int(v) for v in a.arch.split(",")],
                                            activation=cfg.task.activation).to(dev)
    rows = []
    grid = [(k, k if h is None else h, st) for st in states for h in hidden for k in scales]
    for k, h, st in tqdm(grid, desc="scales"):
        gen = torch.Generator().manual_seed(a.seed)     # same initial networks and batches for every scale
        stream = growth_data(conv, x_grow, y_grow, a.grow_batch or cfg.task.grow_batch, gen)
        state, done = None, 0
        for T in steps:                                 # grow on from the last state (fresh ones the first time)
            big, state = grow(conv, graph, a.samples, T - done, cfg.init, gen, state=state, data=stream,
                              scale=growth_scale(graph, conv.hidden_size, k, h, st).to(dev))
            done = T
            val, test = accuracy(big, state.w, x_val, y_val), accuracy(big, state.w, data.x_test, data.y_test)
            rows.append({"scale": k, "hidden_scale": h, "hidden_state_scale": h if st is None else st, "steps": T,
                         "val_mean": val.mean().item(), "test_mean": test.mean().item(),
                         "test_min": test.min().item(), "test": test.tolist()})
    best = select(rows)
    print(table(rows, ["scale", "hidden_scale", "hidden_state_scale", "steps", "val_mean", "test_mean", "test_min"]))
    print(f"selected on validation: {label(best)} -> test {best['test_mean']:.4f} at "
          f"T = {best['steps']}")
    name = f"step_scale_{a.task or cfg.task.task}_{a.arch.replace(',', '-')}"
    report(Path(a.out), name, {"config": vars(a), "rule_step_size": conv.rule.step_size, "rows": rows,
                               "selected": best}, plot, dev)


if __name__ == "__main__":
    main()
