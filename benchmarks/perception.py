"""Perception engines and the full NCA step against the number of weights.

For MLPs ``[n, n, n]`` (no bias, so the dense formulation applies) with 1e3 ... 1e7 weights, times forward and
forward+backward of the ``[E, 3(1+H)]`` perception with

* hub: neuron-level ``index_add_`` sums gathered back to weights (graphnca's default),
* explicit: PyG mean aggregation over the line graph (until its index tensors exceed ``--explicit-gib``),
* dense: per-layer ``[out, in, D]`` tensors, means by reductions and broadcasts (plain MLPs only),

and one full NCA step (``MetaNCAConv`` hub path) against the rule MLP alone on a ready ``[E, 3(1+H)]`` input.
Every engine uses the ``incident`` neighbourhood, the largest line graph (the reference the others are tested
against). All ratios come from the same process.
Usage: ``python benchmarks/perception.py [--weights 1e3,1e4] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from _util import check_new, report, table, timeit, timing_flags

import graphnca
from graphnca.nn import MetaNCAConv
from graphnca.perception import perceive_explicit, perceive_hub


def dense_perception(xs: list[torch.Tensor]) -> torch.Tensor:
    """Incident-neighbourhood perception of a bias-free MLP from per-layer states ``xs[l]: [out, in, D]``."""
    L = len(xs)
    sums, counts = [], []                          # per neuron layer k: [n_k, D] sums and [n_k, 1] degrees
    for k in range(L + 1):
        s, c = 0, 0
        if k > 0:                                  # In(n): row of layer k-1
            s, c = s + xs[k - 1].sum(1), c + xs[k - 1].shape[1]
        if k < L:                                  # Out(n): column of layer k
            s, c = s + xs[k].sum(0), c + xs[k].shape[0]
        sums.append(s), counts.append(c)
    means = [s / c for s, c in zip(sums, counts)]
    rows = []
    for l, x in enumerate(xs):
        out, inp, d = x.shape
        rows.append(torch.cat([x, means[l + 1][:, None, :].expand(out, inp, d),
                               means[l][None, :, :].expand(out, inp, d)], dim=2).reshape(-1, 3 * d))
    return torch.cat(rows)


def bench_one(n_weights: float, H: int, width: int, explicit_gib: float, repeats: int, device) -> dict:
    n = max(2, int(round(math.sqrt(n_weights / 2))))
    graph = graphnca.WeightGraph.from_sizes([n, n, n], bias=False).to(device)
    E, D = graph.num_weights, 1 + H
    x = torch.randn(E, D, device=device)
    xs = [x[:n * n].view(n, n, D), x[n * n:].view(n, n, D)]
    row = {"weights": E, "sizes": f"{n}-{n}-{n}"}

    def fwd_bwd(f):
        def run():
            xg = x.detach().requires_grad_(True)
            f(xg).sum().backward()
        return run

    row["hub_fwd"] = timeit(lambda: perceive_hub(graph, x, "incident"), repeats)
    row["hub_fwdbwd"] = timeit(fwd_bwd(lambda xg: perceive_hub(graph, xg, "incident")), repeats)

    def dense(xg):
        return dense_perception([xg[:n * n].view(n, n, D), xg[n * n:].view(n, n, D)])
    row["dense_fwd"] = timeit(lambda: dense_perception(xs), repeats)
    row["dense_fwdbwd"] = timeit(fwd_bwd(dense), repeats)
    m_f, m_b = graphnca.num_line_graph_edges(graph, "incident")
    row["line_graph_edges"] = m_f + m_b
    try:
        ei_f, ei_b = graph.line_graph("incident", max_bytes=explicit_gib * 2**30)
        row["explicit_fwd"] = timeit(lambda: perceive_explicit(x, ei_f, ei_b), max(2, repeats // 2))
        row["explicit_fwdbwd"] = timeit(fwd_bwd(lambda xg: perceive_explicit(xg, ei_f, ei_b)), max(2, repeats // 2))
    except ValueError:
        row["explicit_fwd"] = row["explicit_fwdbwd"] = None
    conv = MetaNCAConv(hidden_size=H, widths=(width,), neighbourhood="incident").to(device).eval()
    torch.nn.init.normal_(conv.rule.rest[-1].weight, std=0.1)
    p = perceive_hub(graph, x, "incident")
    ones = torch.ones(E, 1, device=device)
    with torch.no_grad():
        row["rule_mlp"] = timeit(lambda: conv.rule(p), repeats)
        row["step_fused"] = timeit(lambda: conv(x, graph=graph, fire_mask=ones), repeats)
        row["step_unfused"] = timeit(lambda: x + conv.rule(perceive_hub(graph, x, "incident")), repeats)
    row["hub_vs_dense"] = row["hub_fwd"] / row["dense_fwd"]
    row["explicit_vs_hub"] = row["explicit_fwd"] / row["hub_fwd"] if row["explicit_fwd"] else None
    row["step_vs_rule"] = row["step_fused"] / row["rule_mlp"]
    row["unfused_vs_rule"] = row["step_unfused"] / row["rule_mlp"]
    row["weight_updates_per_s"] = E / row["step_fused"]
    return row


def plot(d, plt):
    rows = d["rows"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    E = [r["weights"] for r in rows]
    for key, label in (("hub_fwd", "hub"), ("dense_fwd", "dense per-layer"), ("explicit_fwd", "explicit (PyG)")):
        pts = [(r["weights"], r[key]) for r in rows if r.get(key)]
        a.plot(*zip(*pts), marker="o", label=label)
    a.set(xscale="log", yscale="log", xlabel="weights E", ylabel="perception forward (s)", title="perception")
    a.legend()
    for key, label in (("rule_mlp", "rule MLP alone"), ("step_fused", "full step (fused hub)"),
                       ("step_unfused", "full step (materialised)")):
        b.plot(E, [r[key] for r in rows], marker="o", label=label)
    b.set(xscale="log", yscale="log", xlabel="weights E", ylabel="seconds", title=f"one NCA step (H={d['H']})")
    b.legend()
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="1e3,1e4,1e5,1e6,1e7")
    ap.add_argument("--hidden-size", type=int, default=8)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--explicit-gib", type=float, default=6.0, help="largest explicit line graph to build")
    timing_flags(ap)
    args = ap.parse_args(argv)
    check_new(args.out, "perception", args.force)
    torch.manual_seed(args.seed)
    rows = []
    for e in (float(v) for v in args.weights.split(",")):
        rows.append(bench_one(e, args.hidden_size, args.width, args.explicit_gib, args.repeats, args.device))
        print(table(rows[-1:], ["weights", "hub_fwd", "dense_fwd", "explicit_fwd", "rule_mlp", "step_fused"]),
              flush=True)
    cols = ["weights", "line_graph_edges", "hub_fwd", "hub_fwdbwd", "dense_fwd", "dense_fwdbwd", "explicit_fwd",
            "explicit_fwdbwd", "explicit_vs_hub", "hub_vs_dense", "rule_mlp", "step_fused", "step_vs_rule",
            "unfused_vs_rule", "weight_updates_per_s"]
    print(table(rows, cols))
    report(Path(args.out), "perception", {"config": vars(args), "H": args.hidden_size, "rows": rows}, plot,
           args.device)


if __name__ == "__main__":
    main()
