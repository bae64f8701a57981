"""Grow versus train, per network at equal accuracy: the time to grow one network with a meta-trained rule (no
backprop), alone or as one of ``--many`` grown side by side, against the time Adam needs to train one network of
the same architecture from scratch to the accuracy the grown networks reach.

Usage: ``python benchmarks/grow_vs_train.py --rule mnist [--arch 784,100,100,10] [--many 100] [--repeats 5]``.
Both sides run in this process under the same allocator (glibc heap reuse, as the CLI uses), each after a
warm-up run, and each time is the median of ``--repeats``. Growth counts the rule's rollout only; Adam (batch
128, ``--lr``) counts its updates only, its test evaluations (every ``--adam-every`` batches) excluded. The
target is the grown networks' mean test accuracy; the ratio printed is Adam's time to that accuracy over the time
per grown network.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from _util import check_new, out_flags, report, sync, table

import graphnca
from graphnca.experiments.common import load_rule, rule_provenance, task_data
from graphnca.experiments.heatmap import test_accuracy, train_adam
from graphnca.grow import accuracy, grow
from graphnca.runinfo import reuse_freed_memory


def grow_seconds(conv, graph, cfg, n: int, seed: int) -> tuple[float, graphnca.WeightGraph, graphnca.State]:
    sync()
    t = time.perf_counter()
    big, state = grow(conv, graph, n, graphnca.config.grow_steps(cfg), cfg.init, torch.Generator().manual_seed(seed))
    sync()
    return time.perf_counter() - t, big, state


def adam_seconds(arch, data, target: float, lr: float, every: int, seed: int, activation: str,
                 max_epochs: int) -> tuple[float | None, int]:
    """Seconds of Adam updates until the test accuracy (checked every ``every`` batches) reaches ``target``."""
    clock = {"spent": 0.0, "since": time.perf_counter(), "hit": None, "batches": 0}

    def on_batch(b, model):
        clock["spent"] += time.perf_counter() - clock["since"]
        clock["batches"] = b
        stop = b % every == 0 and test_accuracy(model, data) >= target
        if stop:
            clock["hit"] = clock["spent"]
        clock["since"] = time.perf_counter()
        return stop
    train_adam(arch, data, max_epochs, seed, lr=lr, activation=activation, on_batch=on_batch)
    return clock["hit"], clock["batches"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", required=True, help="pretrained rule name or rule file")
    ap.add_argument("--arch", default="784,100,100,10")
    ap.add_argument("--many", type=int, default=100, help="networks grown side by side")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    ap.add_argument("--adam-every", type=int, default=5, help="evaluate Adam every N batches")
    ap.add_argument("--max-epochs", type=int, default=3)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    out_flags(ap)
    a = ap.parse_args(argv)
    check_new(a.out, "grow_vs_train", a.force)
    if a.threads:
        torch.set_num_threads(a.threads)
    reuse_freed_memory()                                  # one allocator for both sides
    conv, cfg = load_rule(a.rule)
    data = task_data(cfg, data_root=a.data_root)
    arch = [int(v) for v in a.arch.split(",")]
    graph = cfg.task.graph(arch)
    grow_seconds(conv, graph, cfg, a.many, a.seed)       # warm-ups
    adam_seconds(arch, data, 2.0, a.lr, 10 ** 9, a.seed, cfg.task.activation, 0)
    train_adam(arch, data, None, a.seed, lr=a.lr, activation=cfg.task.activation, max_batches=20)
    one = [grow_seconds(conv, graph, cfg, 1, a.seed + r)[0] for r in range(a.repeats)]
    many, accs = [], []
    for r in range(a.repeats):
        s, big, state = grow_seconds(conv, graph, cfg, a.many, a.seed + r)
        many.append(s)
        accs.append(accuracy(big, state.w, data.x_test, data.y_test).mean().item())
    target = statistics.median(accs)
    adam = [adam_seconds(arch, data, target, a.lr, a.adam_every, a.seed + r, cfg.task.activation, a.max_epochs)
            for r in range(a.repeats)]
    reached = [s for s, _ in adam if s is not None]
    per_net = statistics.median(many) / a.many
    summary = {"arch": a.arch, "grown_accuracy": target, "grow_one_s": statistics.median(one),
               "grow_many": a.many, "grow_many_s": statistics.median(many), "grow_per_network_s": per_net,
               "adam_s_to_grown_accuracy": statistics.median(reached) if len(reached) == len(adam) else None,
               "adam_batches": statistics.median(b for _, b in adam), "adam_reached": f"{len(reached)}/{len(adam)}"}
    summary["adam_over_grow_one"] = (summary["adam_s_to_grown_accuracy"] / summary["grow_one_s"]
                                     if summary["adam_s_to_grown_accuracy"] else None)
    summary["adam_over_grow_per_network"] = (summary["adam_s_to_grown_accuracy"] / per_net
                                             if summary["adam_s_to_grown_accuracy"] else None)
    print(table([summary], list(summary)))

    def plot(d, plt):
        s = d["summary"]
        fig, ax = plt.subplots(figsize=(6.5, 3.2))
        bars = [("grow 1", s["grow_one_s"]), (f"grow {s['grow_many']} at once, per network", s["grow_per_network_s"]),
                ("Adam, 1 network, to the grown accuracy", s["adam_s_to_grown_accuracy"] or 0.0)]
        ax.barh([b[0] for b in bars], [b[1] for b in bars], color=["tab:blue", "tab:cyan", "tab:grey"])
        ax.set(xscale="log", xlabel=f"seconds (median of {d['config']['repeats']})",
               title=f"rule {Path(d['config']['rule']).name}, {s['arch']}: grown accuracy {s['grown_accuracy']:.3f}")
        return fig
    report(Path(a.out), "grow_vs_train", {"config": vars(a), "rule_file": rule_provenance(a.rule),
                                          "seed": a.seed, "grow_one": one, "grow_many": many, "grown_accuracy": accs,
                                          "adam": [{"seconds": s, "batches": b} for s, b in adam],
                                          "summary": summary}, plot)


if __name__ == "__main__":
    main()
