"""Readout references: what growing the readout alone on a wide random hidden layer is up against.

Usage: ``python benchmarks/readout_refs.py --rule CKPT [--task fashion-mnist] [--data-root DIR]
[--widths 1000,2000,4000] [--samples 3] [--batches 1000] [--seed 1]``.

For every width H it takes the ``--samples`` initial networks ``[in, H, out]`` that ``graphnca grow --seed S
--samples N`` starts from (the rule's own initialisation), freezes their hidden layer and trains the readout
alone from zero — by Adam on ``--batches`` mini-batches of the rule's growth batch size (at each ``--adam-lrs``),
and to convergence by L-BFGS on the whole training set (the readout probe's fit). Beside them, Adam training the
whole network from PyTorch's default init on the same number of batches, seeds S, S + 1, ... — the baseline
``graphnca grow --baseline adam`` reports. Readout-only growth (``--hidden-step-scale 0``) is grown and measured
by ``graphnca grow``; this script measures only the references, on the CPU.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from _util import parse_run_args, report, run_flags, table
from readout_probe import adam_readout, fit_readout, hidden_features

import graphnca
from graphnca.experiments.common import load_rule, task_data
from graphnca.experiments.heatmap import train_adam
from graphnca.grow import fresh_states


def plot(d, plt):
    fig, ax = plt.subplots(figsize=(6, 4))
    r = d["rows"]
    h = [x["width"] for x in r]
    ax.plot(h, [x["refit_mean"] for x in r], "s-", label="readout refitted to convergence")
    for lr in d["config"]["adam_lrs"].split(","):
        ax.plot(h, [x["adam_readout"][lr] for x in r], "^--", label=f"Adam, readout alone, lr {lr}")
    ax.plot(h, [x["adam_network_mean"] for x in r], "o:", label="Adam, whole network, lr 1e-3")
    c = d["config"]
    ax.set(xscale="log", xlabel="hidden units H", ylabel="test accuracy",
           title=f"{c['task'] or 'rule task'}: [in, H, out], {c['batches']} batches")
    ax.legend(fontsize=7)
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", required=True)
    ap.add_argument("--task", default=None, help="task (default: the rule's own)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--widths", default="1000,2000,4000")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--batches", type=int, default=1000, help="mini-batches for the Adam references")
    ap.add_argument("--adam-lrs", default="0.001,0.01", help="learning rates of the readout-alone Adam")
    ap.add_argument("--iters", type=int, default=100, help="L-BFGS iterations of the refit")
    run_flags(ap)
    ap.set_defaults(seed=1)
    a = parse_run_args(ap, argv)
    widths = [int(v) for v in a.widths.split(",")]
    lrs = a.adam_lrs.split(",")
    if min(widths) < 1 or a.samples < 1 or a.batches < 1:
        raise ValueError(f"--widths, --samples and --batches must be >= 1, got {a.widths}, {a.samples}, {a.batches}")
    conv, cfg = load_rule(a.rule)
    data = task_data(cfg, task=a.task, data_root=a.data_root)
    batch = cfg.task.grow_batch
    rows = []
    for h in tqdm(widths, desc="widths"):
        sizes = [data.num_features, h, data.num_classes]
        graph = graphnca.WeightGraph.from_sizes(sizes, activation=cfg.task.activation)
        gen = torch.Generator().manual_seed(a.seed)          # the same draw as `graphnca grow --seed`
        w = fresh_states(graph, a.samples, conv.hidden_size, cfg.init, gen)[..., 0]           # [k, E]
        with torch.no_grad():
            f_tr = hidden_features(graph.archs[0], w, data.x_train)                            # [k, N, H]
            f_te = hidden_features(graph.archs[0], w, data.x_test)
        adam = {lr: adam_readout(f_tr, data.y_train, f_te, data.y_test, [a.batches], batch, float(lr),
                                 torch.Generator().manual_seed(a.seed + 1))[a.batches] for lr in lrs}
        refit = fit_readout(f_tr, data.y_train, f_te, data.y_test, a.iters, 0.0)
        del f_tr, f_te
        net = [train_adam(sizes, data, None, a.seed + i, batch=batch, activation=cfg.task.activation,
                          max_batches=a.batches) for i in range(a.samples)]
        rows.append({"width": h, "refit_mean": refit.mean().item(), "refit": refit.tolist(), "adam_readout": adam,
                     "adam_network_mean": sum(net) / len(net), "adam_network": net})
    print(table([{"width": r["width"], "refit_mean": r["refit_mean"], "adam_network_mean": r["adam_network_mean"],
                  **{f"adam_readout_lr{lr}": r["adam_readout"][lr] for lr in lrs}} for r in rows],
                ["width", "refit_mean", *[f"adam_readout_lr{lr}" for lr in lrs], "adam_network_mean"]))
    name = f"readout_refs_{a.task or cfg.task.task}"
    report(Path(a.out), name, {"config": vars(a), "batch": batch, "rows": rows}, plot)


if __name__ == "__main__":
    main()
