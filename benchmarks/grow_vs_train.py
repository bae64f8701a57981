"""Grow versus train: wall time to a network of a target test accuracy, by growing it with a meta-trained rule
(no backprop, ``torch.no_grad()``) or by Adam from scratch (batch 128, lr 1e-3), both in this process.

Usage: ``python benchmarks/grow_vs_train.py --rule CKPT [--arch 784,100,100,10] [--target 0.956] [--many 100]
[--device cuda]``. Growth time counts the rollout only (for a data-conditioned rule: with its per-step
mini-batches); Adam time counts training only (evaluations excluded from both). Besides the target, the summary
gives Adam's time to the best accuracy growth did reach, so the two are compared even when growth falls short.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn

from _util import report, sync, table

import graphnca
from graphnca.experiments.common import load_rule, task_data
from graphnca.grow import accuracy, fresh_states, growth_data
from graphnca.state import State


def grow_timed(conv, graph, init, data, n, max_steps, every, seed, grow_batch=64):
    gen = torch.Generator().manual_seed(seed)
    big = graphnca.repeat(graph, n)
    state = State.unpack(fresh_states(graph, n, conv.hidden_size, init, gen).view(big.num_weights, -1)
                         .to(big.device))
    stream = growth_data(conv, data.x_train, data.y_train, grow_batch, gen)   # None for a data-free rule
    spent, curve = 0.0, []
    with torch.no_grad():
        for step in range(every, max_steps + every, every):
            sync()
            t = time.perf_counter()
            state = graphnca.rollout(conv, big, state, every, data=stream)
            sync()
            spent += time.perf_counter() - t
            curve.append({"steps": step, "seconds": spent,
                          "accuracy": accuracy(big, state.w, data.x_test, data.y_test).mean().item()})
    return curve


def adam_timed(arch, data, target, max_epochs, every, seed, activation="relu"):
    torch.manual_seed(seed)
    layers, act = [], {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]   # the grown networks' activation
    for i, (a, b) in enumerate(zip(arch[:-1], arch[1:])):
        layers += [nn.Linear(a, b)] + ([act()] if i < len(arch) - 2 else [])
    model = nn.Sequential(*layers).to(data.x_train.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    spent, curve, batches = 0.0, [], 0
    for _ in range(max_epochs):
        perm = torch.randperm(len(data.x_train), generator=g).to(data.x_train.device)
        for i in range(0, len(perm), 128):
            sync()
            t = time.perf_counter()
            idx = perm[i:i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
            opt.step()
            sync()
            spent += time.perf_counter() - t
            batches += 1
            if batches % every == 0:
                with torch.no_grad():
                    acc = (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
                curve.append({"batches": batches, "seconds": spent, "accuracy": acc})
                if acc >= target:
                    return curve
    return curve


def first_at(curve, target):
    hit = next((c for c in curve if c["accuracy"] >= target), None)
    return None if hit is None else hit["seconds"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", required=True)
    ap.add_argument("--arch", default="784,100,100,10")
    ap.add_argument("--target", type=float, default=0.956)
    ap.add_argument("--many", type=int, default=100, help="networks grown at once")
    ap.add_argument("--max-steps", type=int, default=None, help="growth steps (default: 2x the rule's length)")
    ap.add_argument("--grow-every", type=int, default=5)
    ap.add_argument("--max-epochs", type=int, default=5)
    ap.add_argument("--adam-every", type=int, default=50, help="evaluate Adam every N batches")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results")
    a = ap.parse_args(argv)
    conv, cfg = load_rule(a.rule)
    conv = conv.to(a.device)
    data = task_data(cfg, data_root=a.data_root).to(a.device)
    arch = [int(v) for v in a.arch.split(",")]
    graph = cfg.task.graph(arch).to(a.device)
    steps = a.max_steps or 2 * graphnca.config.grow_steps(cfg)
    gb = cfg.task.grow_batch
    grow_timed(conv, graph, cfg.init, data, 1, a.grow_every, a.grow_every, a.seed, gb)  # warm-up (CUDA init)
    one = grow_timed(conv, graph, cfg.init, data, 1, steps, a.grow_every, a.seed, gb)
    many = grow_timed(conv, graph, cfg.init, data, a.many, steps, a.grow_every, a.seed, gb)
    best = max(c["accuracy"] for c in one)
    # Adam runs until the higher of the target and growth's best, so both times come from one run
    adam = adam_timed(arch, data, max(a.target, best), a.max_epochs, a.adam_every, a.seed, cfg.task.activation)
    t_grow, t_many, t_adam = first_at(one, a.target), first_at(many, a.target), first_at(adam, a.target)
    t_grow_best, t_adam_best = first_at(one, best), first_at(adam, best)
    summary = {"target": a.target, "grow_one_s": t_grow, "grow_many_s": t_many, "adam_one_s": t_adam,
               "grow_best_accuracy": best,
               "grow_many_best_mean_accuracy": max(c["accuracy"] for c in many),
               "adam_final_accuracy": adam[-1]["accuracy"] if adam else None,
               "adam_over_grow_one": t_adam / t_grow if t_grow and t_adam else None,
               "adam_x_many_over_grow_many": a.many * t_adam / t_many if t_many and t_adam else None,
               "grow_one_s_to_best": t_grow_best, "adam_s_to_grow_best": t_adam_best,
               "adam_over_grow_at_grow_best": t_adam_best / t_grow_best if t_adam_best and t_grow_best else None}
    print(table([summary], list(summary)))
    if t_grow is None:
        print(f"growth never reached {a.target} (best {summary['grow_best_accuracy']:.4f}) within {steps} steps")

    def plot(d, plt):
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([c["seconds"] for c in d["grow_one"]], [c["accuracy"] for c in d["grow_one"]], label="grow 1")
        ax.plot([c["seconds"] for c in d["grow_many"]], [c["accuracy"] for c in d["grow_many"]],
                label=f"grow {d['config']['many']} at once (mean)")
        ax.plot([c["seconds"] for c in d["adam"]], [c["accuracy"] for c in d["adam"]], label="Adam, 1 net")
        ax.axhline(d["config"]["target"], color="grey", ls=":")
        ax.set(xscale="log", xlabel="wall seconds", ylabel="test accuracy", title=d["config"]["arch"])
        ax.legend()
        return fig
    report(Path(a.out), "grow_vs_train", {"config": vars(a), "grow_one": one, "grow_many": many, "adam": adam,
                                          "summary": summary}, plot, a.device)


if __name__ == "__main__":
    main()
