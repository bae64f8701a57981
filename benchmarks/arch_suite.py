"""Grown networks over a suite of architectures beside Adam with a tuned learning rate, both from one command.

Usage: ``python benchmarks/arch_suite.py --rule mnist --suite mnist-wide --data-root DIR [--samples 20]``.
Suites: ``mnist-wide`` ([784, W, W, 10], W = 200, 400, 1000), ``mnist-depth`` ([784, X, Y, Z, 10], X, Y, Z in
{20, 50, 100}) and ``fashion-depth3`` (the 20 depth-3 MLPs of non-increasing widths from {16, 32, 64, 128}).
Each architecture is marked *trained* when the rule was meta-trained on it, *held out* otherwise.

Growth: ``--samples`` networks per architecture, the rule's own number of growth steps (``--steps`` to change),
no data seen. Adam (``--adam-seeds`` networks, batch 128, ``--adam-epochs`` epochs) picks its learning rate from
``--lrs`` on a validation split (the last 5,000 training examples, not trained on), then reports test accuracy of
that learning rate's runs; ``--no-adam`` skips it. Writes ``OUT/arch_suite_SUITE.json`` and its PNG.
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from _util import check_new, parse_run_args, report, run_flags, table

import graphnca
from graphnca.data import load_task
from graphnca.experiments.heatmap import tuned_adam
from graphnca.grow import accuracy


def suite(name: str) -> list[tuple[int, ...]]:
    if name == "mnist-wide":
        return [(784, w, w, 10) for w in (200, 400, 1000)]
    if name == "mnist-depth":
        return [(784, x, y, z, 10) for x, y, z in itertools.product((20, 50, 100), repeat=3)]
    if name == "fashion-depth3":
        widths = (128, 64, 32, 16)
        return [(784, a, b, c, 10) for a in widths for b in widths for c in widths if a >= b >= c]
    raise SystemExit(f"unknown suite {name!r}")


def grow_accuracy(rule, arch, data, samples, steps, seed, max_weights=4_000_000) -> list[float]:
    """Test accuracies of ``samples`` grown networks, grown in chunks of at most ``max_weights`` weight nodes."""
    per = max(1, max_weights // rule.graph(arch).num_weights)
    accs = []
    for c, start in enumerate(range(0, samples, per)):
        big, state = rule.grow_states(arch, n=min(per, samples - start), seed=seed + c, steps=steps)
        accs += accuracy(big, state.w, data.x_test, data.y_test).tolist()
    return accs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", required=True, help="pretrained rule name or rule / checkpoint file")
    ap.add_argument("--suite", required=True, choices=["mnist-wide", "mnist-depth", "fashion-depth3"])
    ap.add_argument("--archs", default=None, help="instead of the suite's: semicolon-separated layer sizes, "
                                                   "e.g. 784,20,20,10;784,30,10 (the output keeps the suite's name)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--steps", type=int, default=None, help="growth steps (default: the rule's)")
    ap.add_argument("--no-adam", action="store_true")
    ap.add_argument("--adam-seeds", type=int, default=2)
    ap.add_argument("--adam-epochs", type=int, default=1)
    ap.add_argument("--lrs", default="3e-4,1e-3,3e-3")
    run_flags(ap)
    a = parse_run_args(ap, argv)
    check_new(a.out, f"arch_suite_{a.suite}", a.force)
    rule = graphnca.load_rule(a.rule)
    ck = graphnca.checkpoint.load_checkpoint(graphnca.pretrained.rule_path(a.rule))
    trained = {tuple(s) for s in ck["config"]["task"]["archs"]}
    data = load_task(rule.task, a.data_root)
    steps = a.steps or rule.steps
    rows = []
    archs = suite(a.suite) if a.archs is None else [tuple(int(v) for v in t.split(",")) for t in a.archs.split(";")]
    for arch in archs:
        t = time.perf_counter()
        accs = grow_accuracy(rule, arch, data, a.samples, steps, a.seed)
        row = {"arch": "-".join(map(str, arch)), "trained": arch in trained, "grown_mean": sum(accs) / len(accs),
               "grown_min": min(accs), "grow_s": time.perf_counter() - t, "grown": accs}
        if not a.no_adam:
            ad = tuned_adam(arch, data, [float(v) for v in a.lrs.split(",")], a.adam_epochs, a.adam_seeds,
                            rule.activation)
            row |= {"adam_mean": sum(ad["test"]) / len(ad["test"]), "adam_lr": ad["lr"], "adam": ad}
        rows.append(row)
        print(table([row], [c for c in ("arch", "trained", "grown_mean", "grown_min", "adam_mean", "adam_lr",
                                        "grow_s") if c in row]).splitlines()[-1], flush=True)
    held = [r for r in rows if not r["trained"]]
    summary = {"suite": a.suite, "steps": steps, "samples": a.samples,
               "held_out_mean": sum(r["grown_mean"] for r in held) / max(1, len(held)),
               "held_out_archs": len(held), "trained_archs": len(rows) - len(held)}
    if not a.no_adam:
        summary["adam_held_out_mean"] = sum(r["adam_mean"] for r in held) / max(1, len(held))
        summary["adam_examples_seen"] = rows[0]["adam"]["examples_seen"]
    print(table([summary], list(summary)))

    def plot(d, plt):
        rs = d["rows"]
        fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(rs)), 4))
        xs = range(len(rs))
        ax.bar([x - 0.2 for x in xs], [r["grown_mean"] for r in rs], 0.4,
               color=["tab:orange" if r["trained"] else "tab:blue" for r in rs], label="grown (orange: trained on)")
        if "adam_mean" in rs[0]:
            ax.bar([x + 0.2 for x in xs], [r["adam_mean"] for r in rs], 0.4, color="grey", label="Adam, tuned lr")
        ax.set_xticks(list(xs), [r["arch"] for r in rs], rotation=70, fontsize=7)
        lo = min(min(r["grown_mean"] for r in rs), min(r.get("adam_mean", 1) for r in rs))
        ax.set(ylim=(max(0, lo - 0.05), 1), ylabel="test accuracy",
               title=f"{d['summary']['suite']}: {d['summary']['steps']} growth steps, held-out mean "
                     f"{d['summary']['held_out_mean']:.3f}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig
    report(Path(a.out), f"arch_suite_{a.suite}", {"config": vars(a), "seed": a.seed, "rows": rows,
                                                   "summary": summary}, plot)


if __name__ == "__main__":
    main()
