"""Rollout throughput: weight-updates per second of one NCA step, against the number of weights and against the
hidden size H and rule width, next to the rule MLP alone on the same rows (the step's lower bound).

Usage: ``python benchmarks/throughput.py [--weights 1e3,1e5] [--hidden 4,8,16] [--widths 32,64,128]``.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from _util import report, table, timeit, timing_flags

import graphnca
from graphnca.perception import perceive_hub


def measure(E: float, H: int, width: int, repeats: int, device) -> dict:
    n = max(2, int(round(math.sqrt(E / 2))))
    graph = graphnca.WeightGraph.from_sizes([n, n, n], bias=False).to(device)
    conv = graphnca.MetaNCAConv(hidden_size=H, widths=(width,)).to(device).eval()
    torch.nn.init.normal_(conv.rule.rest[-1].weight, std=0.1)
    x = torch.randn(graph.num_weights, 1 + H, device=device)
    ones = torch.ones(graph.num_weights, 1, device=device)
    p = perceive_hub(graph, x)
    with torch.no_grad():
        t_rule = timeit(lambda: conv.rule(p), repeats)
        t_step = timeit(lambda: conv(x, graph=graph, fire_mask=ones), repeats)
    return {"weights": graph.num_weights, "H": H, "width": width, "rule_mlp_s": t_rule, "step_s": t_step,
            "step_vs_rule": t_step / t_rule, "updates_per_s": graph.num_weights / t_step}


def plot(d, plt):
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, key, rows in zip(axes, ("weights", "H", "width"), (d["by_weights"], d["by_hidden"], d["by_width"])):
        ax.plot([r[key] for r in rows], [r["updates_per_s"] for r in rows], marker="o", label="full step")
        ax.plot([r[key] for r in rows], [r["weights"] / r["rule_mlp_s"] for r in rows], marker="s",
                label="rule MLP alone")
        ax.set(xscale="log" if key == "weights" else "linear", yscale="log", xlabel=key,
               ylabel="weight-updates / s")
        ax.legend()
    fig.suptitle(f"one NCA step, no grad ({d['meta']['device']})")
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="1e3,1e4,1e5,1e6,1e7")
    ap.add_argument("--hidden", default="2,4,8,16,32")
    ap.add_argument("--widths", default="16,32,64,128,256")
    ap.add_argument("--at", type=float, default=1e5, help="weights for the H and width sweeps")
    timing_flags(ap)
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    by_w = [measure(float(e), 8, 64, a.repeats, a.device) for e in a.weights.split(",")]
    by_h = [measure(a.at, int(h), 64, a.repeats, a.device) for h in a.hidden.split(",")]
    by_width = [measure(a.at, 8, int(w), a.repeats, a.device) for w in a.widths.split(",")]
    cols = ["weights", "H", "width", "rule_mlp_s", "step_s", "step_vs_rule", "updates_per_s"]
    for rows in (by_w, by_h, by_width):
        print(table(rows, cols), "\n")
    report(Path(a.out), "throughput", {"config": vars(a), "by_weights": by_w, "by_hidden": by_h,
                                       "by_width": by_width}, plot, a.device)


if __name__ == "__main__":
    main()
