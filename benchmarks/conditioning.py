"""Cost of data conditioning: one no-grad NCA step of a data-conditioned rule (features on a mini-batch + the
rule) against the same step of a data-free rule, for ``784-X-X-10`` networks and several batch sizes.

Usage: ``python benchmarks/conditioning.py [--hidden 10,100,1000] [--batch 16,64,256] [--nets 8]``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from _util import report, table, timeit, timing_flags

import graphnca
from graphnca.conditioning import data_features


def measure(hidden: int, nets: int, batch: int, H: int, repeats: int, device) -> dict:
    graph = graphnca.repeat(graphnca.WeightGraph.from_sizes([784, hidden, hidden, 10], activation="tanh"),
                            nets).to(device)
    free = graphnca.MetaNCAConv(hidden_size=H, fire_rate=1.0).to(device).eval()
    cond = graphnca.MetaNCAConv(hidden_size=H, fire_rate=1.0, condition="data").to(device).eval()
    x = torch.randn(graph.num_weights, 1 + H, device=device) * 0.1
    data = (torch.randn(batch, 784, device=device), torch.randint(10, (batch,), device=device))
    with torch.no_grad():
        t_free = timeit(lambda: free(x, graph=graph), repeats)
        t_feat = timeit(lambda: data_features(graph, x[:, 0], *data), repeats)
        t_cond = timeit(lambda: cond(x, graph=graph, data=data), repeats)
    return {"arch": f"784-{hidden}-{hidden}-10", "nets": nets, "weights": graph.num_weights, "batch": batch,
            "free_step_s": t_free, "features_s": t_feat, "conditioned_step_s": t_cond,
            "conditioned_vs_free": t_cond / t_free, "updates_per_s": graph.num_weights / t_cond}


def plot(d, plt):
    fig, ax = plt.subplots(figsize=(6, 4))
    for b in sorted({r["batch"] for r in d["rows"]}):
        rows = [r for r in d["rows"] if r["batch"] == b]
        ax.plot([r["weights"] for r in rows], [r["conditioned_vs_free"] for r in rows], marker="o",
                label=f"batch {b}")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set(xscale="log", xlabel="weights in the batched graph", ylabel="conditioned step / data-free step",
           title=f"cost of data conditioning ({d['meta']['device']})")
    ax.legend()
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", default="10,30,100,300")
    ap.add_argument("--batch", default="16,64,256")
    ap.add_argument("--nets", type=int, default=8, help="networks grown side by side")
    ap.add_argument("--hidden-size", type=int, default=8)
    timing_flags(ap)
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    rows = [measure(int(h), a.nets, int(b), a.hidden_size, a.repeats, a.device)
            for h in a.hidden.split(",") for b in a.batch.split(",")]
    print(table(rows, ["arch", "weights", "batch", "free_step_s", "features_s", "conditioned_step_s",
                       "conditioned_vs_free", "updates_per_s"]))
    report(Path(a.out), "conditioning", {"config": vars(a), "rows": rows}, plot, a.device)


if __name__ == "__main__":
    main()
