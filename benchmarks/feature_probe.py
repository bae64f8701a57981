"""Where a grown network loses accuracy: a linear read-out retrained on each hidden layer of grown networks.

Usage: ``python benchmarks/feature_probe.py --rule fashion-mnist --arch 784,32,32,32,10 --data-root DIR``
(``--rule`` and ``--arch`` repeat; a rule can be a checkpoint file).

For each rule and architecture, ``--samples`` networks are grown without data (the rule's own growth steps) and
frozen; a softmax read-out is then fitted by Adam (``--epochs`` over the training set, batch 512, lr 3e-3) on each
hidden layer's activations and scored on the test set. A read-out far above the grown network's own accuracy means
the later layers lose what the features hold; a read-out on the first hidden layer near the grown accuracy means
the first layer's features are the limit. Beside them, the same read-out on the raw pixels (a linear classifier)
and on the pixels projected onto the 2-D cosines ``cos(pi f_r r) cos(pi f_c c)``, ``f <= K``: templates that
position codes of ``K`` frequencies per axis can draw without sharper nonlinear detail. Writes
``OUT/feature_probe_TASK.json`` and its PNG. The read-out is a probe of the frozen features, not a learner
compared with the rule.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from _util import check_new, parse_run_args, report, run_flags, table

import torch
import torch.nn.functional as F

import graphnca
from graphnca.data import load_images
from graphnca.experiments.common import rule_provenance

COSINE_K = (3, 6, 12)


def readout(f_train, y_train, f_test, y_test, epochs: int, seed: int) -> float:
    """Test accuracy of a softmax read-out fitted on standardised features ``f_train: [N, D]``."""
    m, s = f_train.mean(0), f_train.std(0) + 1e-6
    f_train, f_test = (f_train - m) / s, (f_test - m) / s
    gen = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(f_train.shape[1], int(y_train.max()) + 1)
    opt = torch.optim.Adam(head.parameters(), 3e-3)
    for _ in range(epochs):
        perm = torch.randperm(len(f_train), generator=gen)
        for i in range(0, len(perm), 512):
            b = perm[i:i + 512]
            loss = F.cross_entropy(head(f_train[b]), y_train[b])
            opt.zero_grad(), loss.backward(), opt.step()
    with torch.no_grad():
        return (head(f_test).argmax(1) == y_test).float().mean().item()


def cosines(k: int, side: int = 28) -> torch.Tensor:
    """``[(k+1)^2, side^2]`` separable 2-D cosines of frequencies ``0..k`` per axis over a square image."""
    r = (torch.arange(side) + 0.5) / side
    c = torch.stack([torch.cos(math.pi * f * r) for f in range(k + 1)])              # [k+1, side]
    return torch.einsum("ar,bc->abrc", c, c).reshape((k + 1) ** 2, side * side)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", action="append", required=True, help="pretrained rule name or rule file (repeat)")
    ap.add_argument("--arch", action="append", required=True, help="layer sizes, e.g. 784,32,32,32,10 (repeat)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10)
    run_flags(ap)
    a = parse_run_args(ap, argv)
    if a.samples < 1 or a.epochs < 1:
        raise SystemExit("--samples and --epochs must be >= 1")
    rules = {name: graphnca.load_rule(name) for name in a.rule}
    files = [rule_provenance(name) for name in a.rule]                          # which files, read when loaded
    tasks = {r.task for r in rules.values()}
    if len(tasks) != 1 or not tasks <= {"mnist", "fashion-mnist"}:
        raise SystemExit(f"the rules must share one image task, got {sorted(tasks)}")
    task = tasks.pop()
    archs = [[int(v) for v in s.split(",")] for s in a.arch]
    for r in rules.values():
        for arch in archs:
            r.check_sizes(arch)
    name = f"feature_probe_{task}"
    check_new(a.out, name, a.force)
    data = load_images(task, a.data_root, standardise=False)                   # raw pixels: what grown nets take
    xtr, ytr, xte, yte = data.x_train, data.y_train, data.x_test, data.y_test
    baselines = {"pixels": readout(xtr, ytr, xte, yte, a.epochs, a.seed)}
    for k in COSINE_K:
        basis = cosines(k)
        baselines[f"cosines_K{k}"] = readout(xtr @ basis.T, ytr, xte @ basis.T, yte, a.epochs, a.seed)
    print(table([baselines], list(baselines)), flush=True)
    rows = []
    for rname, rule in rules.items():
        for arch in archs:
            for i, net in enumerate(rule.grow(arch, n=a.samples, seed=a.seed)):
                with torch.no_grad():
                    grown = (net(xte).argmax(1) == yte).float().mean().item()
                row = {"rule": rname, "arch": "-".join(map(str, arch)), "net": i, "grown": grown}
                for layer in range(1, len(arch) - 1):                              # Linear, activation per layer
                    with torch.no_grad():
                        h_tr, h_te = net[:2 * layer](xtr), net[:2 * layer](xte)   # [N, width]
                    row[f"hidden{layer}"] = readout(h_tr, ytr, h_te, yte, a.epochs, a.seed)
                rows.append(row)
                print(table([row], list(row)).splitlines()[-1], flush=True)

    def plot(d, plt):
        rs = d["rows"]
        fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(rs)), 4))
        depth = max(len(r["arch"].split("-")) - 2 for r in rs)
        keys = ["grown"] + [f"hidden{i}" for i in range(1, depth + 1)]
        w = 0.8 / len(keys)
        for j, key in enumerate(keys):
            ax.bar([x + j * w for x in range(len(rs))], [r.get(key, 0) for r in rs], w, label=key)
        for key, v in d["baselines"].items():
            ax.axhline(v, lw=0.8, ls="--", color="grey")
            ax.text(len(rs) - 0.5, v, key, fontsize=6, va="bottom", ha="right")
        ax.set_xticks([x + 0.4 - w / 2 for x in range(len(rs))], [f"{r['rule']}\n{r['arch']}" for r in rs],
                      fontsize=6)
        ax.set(ylim=(0, 1), ylabel="test accuracy", title=f"{d['task']}: read-out retrained on grown features")
        ax.legend(fontsize=7, loc="lower left")
        fig.tight_layout()
        return fig
    report(Path(a.out), name, {"config": vars(a), "seed": a.seed, "task": task,
                               "rule_files": files, "baselines": baselines,
                               "rows": rows}, plot)


if __name__ == "__main__":
    main()
