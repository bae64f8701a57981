"""Scatter backends for the hub engine's neuron sums: ``index_add_`` (graphnca's default), ``scatter_add_``,
``scatter_reduce_(mean)``, PyG's ``utils.scatter`` and torch-scatter (when installed), forward and backward.

Usage: ``python benchmarks/scatter.py [--weights 1e4,1e6] [--dim 9]``.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch_geometric.utils import scatter as pyg_scatter

from _util import report, table, timeit

import graphnca


def backends():
    out = {
        "index_add_": lambda x, idx, n: x.new_zeros(n, x.shape[1]).index_add_(0, idx, x),
        "scatter_add_": lambda x, idx, n: x.new_zeros(n, x.shape[1]).scatter_add_(
            0, idx.unsqueeze(1).expand_as(x), x),
        "scatter_reduce_mean": lambda x, idx, n: x.new_zeros(n, x.shape[1]).scatter_reduce_(
            0, idx.unsqueeze(1).expand_as(x), x, "mean", include_self=False),
        "pyg_scatter_sum": lambda x, idx, n: pyg_scatter(x, idx, 0, dim_size=n, reduce="sum"),
    }
    try:
        import torch_scatter
        out["torch_scatter_sum"] = lambda x, idx, n: torch_scatter.scatter_add(x, idx, 0, dim_size=n)
    except ImportError:
        pass
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="1e4,1e5,1e6,1e7")
    ap.add_argument("--dim", type=int, default=9, help="feature columns (1 + H)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="benchmarks/results")
    a = ap.parse_args(argv)
    rows = []
    for e in (float(v) for v in a.weights.split(",")):
        n = max(2, int(round(math.sqrt(e / 2))))
        g = graphnca.WeightGraph.from_sizes([n, n, n], bias=False).to(a.device)
        x = torch.randn(g.num_weights, a.dim, device=a.device)
        row = {"weights": g.num_weights}
        for name, fn in backends().items():
            row[name] = timeit(lambda: fn(x, g.dst, g.num_neurons), a.repeats)

            def fb():
                xg = x.detach().requires_grad_(True)
                fn(xg, g.dst, g.num_neurons).sum().backward()
            row[name + "_fwdbwd"] = timeit(fb, a.repeats)
        for name in backends():
            row[name + "_vs_index_add"] = row[name] / row["index_add_"]
        rows.append(row)
    names = list(backends())
    print(table(rows, ["weights"] + names + [n + "_vs_index_add" for n in names[1:]]))

    def plot(d, plt):
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in d["backends"]:
            ax.plot([r["weights"] for r in d["rows"]], [r[name] for r in d["rows"]], marker="o", label=name)
        ax.set(xscale="log", yscale="log", xlabel="weights", ylabel="seconds (forward)", title="neuron sums")
        ax.legend(fontsize=7)
        return fig
    report(Path(a.out), "scatter", {"config": vars(a), "backends": names, "rows": rows}, plot, a.device)


if __name__ == "__main__":
    main()
