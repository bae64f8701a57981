"""Growth-time step schedules: does a rule grow better networks if its step changes during growth?

Usage: ``python benchmarks/growth_schedule.py --rule CKPT [--task fashion-mnist] [--data-root DIR]
[--arch 784,30,30,10] --schedules "0.1x200;0.3x40,0.1x160" [--grow-batches 64,256] [--samples 2] [--val 10000]``.

A schedule is a list of segments ``SCALExSTEPS``: grow ``STEPS`` updates at ``SCALE`` times the rule's step, then
the next segment from where that one stopped (``0.3x40,0.1x160``: 40 coarse updates, then 160 fine ones — the
learning-rate decay of an optimiser). ``step_scale.py`` is the one-segment case. Every schedule and growth batch
size starts from the same initial networks and data batches (seeded), and is scored on a validation split carved
from the task's training set (growth reads mini-batches from the rest); the test set is only reported. Selected:
the best validation accuracy at the end of its schedule.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from _util import growth_flags, parse_run_args, report, table
from step_scale import split_train

import graphnca
from graphnca.experiments.common import load_rule, task_data
from graphnca.grow import accuracy, grow, growth_data, growth_scale
from graphnca.schedules import StepSchedule


def plot(d, plt):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = list(dict.fromkeys(r["schedule"] for r in d["rows"]))
    batches = list(dict.fromkeys(r["grow_batch"] for r in d["rows"]))
    colours = plt.get_cmap("tab10")
    for r in d["rows"]:                       # colour: schedule; line style: growth batch size
        ends = [sum(s for _, s in r["segments"][:i + 1]) for i in range(len(r["segments"]))]
        ax.plot(ends, r["val_after_segment"], "o" + ("-", "--", ":", "-.")[batches.index(r["grow_batch"]) % 4],
                color=colours(names.index(r["schedule"]) % 10), label=f"{r['schedule']} (batch {r['grow_batch']})")
    ax.set(xlabel="growth steps", ylabel="validation accuracy (end of each segment)")
    ax.set_title(f"{d['task']} {d['config']['arch']}: selected {d['selected']['schedule']} "
                 f"(batch {d['selected']['grow_batch']})", fontsize=8)
    ax.legend(fontsize=6)
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    growth_flags(ap, arch="784,30,30,10", samples=2, steps=None)
    ap.add_argument("--schedules", required=True, help="';'-separated schedules of SCALExSTEPS segments")
    ap.add_argument("--grow-batches", default=None, help="growth batch sizes to try (default: the rule's)")
    ap.add_argument("--val", type=int, default=10000, help="training examples held out for the choice")
    a = parse_run_args(ap, argv)
    schedules = [(s.strip(), StepSchedule.parse(s).segments) for s in a.schedules.split(";") if s.strip()]
    conv, cfg = load_rule(a.rule)
    batches = ([int(v) for v in a.grow_batches.split(",")] if a.grow_batches
               else [a.grow_batch or cfg.task.grow_batch])
    data = task_data(cfg, task=a.task, data_root=a.data_root)
    x_grow, y_grow, x_val, y_val = split_train(data.x_train, data.y_train, a.val,
                                               torch.Generator().manual_seed(a.seed))
    graph = graphnca.WeightGraph.from_sizes([int(v) for v in a.arch.split(",")], activation=cfg.task.activation)
    rows = []
    for (name, segs), gb in tqdm([(s, b) for s in schedules for b in batches], desc="schedules"):
        gen = torch.Generator().manual_seed(a.seed)     # same initial networks and batches for every schedule
        stream = growth_data(conv, x_grow, y_grow, gb, gen)
        state, val = None, []
        for scale, steps in segs:                       # each segment grows on from where the last one stopped
            big, state = grow(conv, graph, a.samples, steps, cfg.init, gen, state=state, data=stream,
                              scale=growth_scale(graph, conv.hidden_size, scale))
            val.append(accuracy(big, state.w, x_val, y_val).mean().item())
        test = accuracy(big, state.w, data.x_test, data.y_test)
        rows.append({"schedule": name, "segments": segs, "grow_batch": gb, "steps": sum(s for _, s in segs),
                     "val_after_segment": val, "val_mean": val[-1], "test_mean": test.mean().item(),
                     "test_min": test.min().item(), "test": test.tolist()})
    best = max(rows, key=lambda r: r["val_mean"])
    print(table(rows, ["schedule", "grow_batch", "steps", "val_mean", "test_mean", "test_min"]))
    print(f"selected on validation: {best['schedule']} (batch {best['grow_batch']}) -> test {best['test_mean']:.4f}")
    name = f"growth_schedule_{a.task or cfg.task.task}_{a.arch.replace(',', '-')}"
    report(Path(a.out), name, {"config": vars(a), "task": a.task or cfg.task.task,
                               "rule_step_size": conv.rule.step_size, "rows": rows, "selected": best}, plot)


if __name__ == "__main__":
    main()
