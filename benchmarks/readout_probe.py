"""Readout probe: how much of a grown network's accuracy comes from its hidden layers, how much from its readout.

Usage: ``python benchmarks/readout_probe.py --rule CKPT [--task fashion-mnist] [--data-root DIR]
[--arch 784,100,100,10] [--samples 10] [--steps 0,20,100,300]``.

Grows ``--samples`` networks with the rule (no backprop) and, after each growth length T (T = 0: the rule's
initial random network), refits the *last layer alone* on the whole training set — multinomial logistic
regression by full-batch L-BFGS on the frozen last hidden layer's outputs — and reports the grown and the probed
test accuracy side by side. The probe is the best any rule could do by training the readout only: grown below
probe means the readout is under-trained; probe at T equal to probe at T = 0 means the hidden layers learnt
nothing a linear readout can use. Two more references: a linear classifier on the raw inputs, and Adam training
the readout alone on the initial (T = 0) hidden layers with as many mini-batches as growth steps — what a rule
that learnt a good last-layer optimiser, and nothing else, could reach in T steps.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from _util import growth_flags, parse_run_args, report, table

import graphnca
from graphnca.experiments.common import load_rule, task_data
from graphnca.forward import layer_outputs
from graphnca.grow import accuracy, grow, growth_data


def zero_readout(f_train, y_train) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero readouts ``W [k, h, C]``, ``b [k, 1, C]`` for ``k`` networks' features ``[k, N, h]``."""
    k, _, h = f_train.shape
    C = int(y_train.max()) + 1
    return torch.zeros(k, h, C, requires_grad=True), torch.zeros(k, 1, C, requires_grad=True)


@torch.no_grad()
def readout_accuracy(W, b, f_test, y_test) -> torch.Tensor:
    """``[k]`` test accuracy of ``k`` linear readouts."""
    return (torch.baddbmm(b, f_test, W).argmax(-1) == y_test).float().mean(1)


def fit_readout(f_train, y_train, f_test, y_test, iters: int, l2: float) -> torch.Tensor:
    """Test accuracy ``[k]`` of a linear softmax readout fitted per network on features ``[k, N, h]``."""
    k = f_train.shape[0]
    W, b = zero_readout(f_train, y_train)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=iters, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12)
    target = y_train.expand(k, -1)

    def closure():
        opt.zero_grad()
        logits = torch.baddbmm(b, f_train, W)                                  # [k, N, C]
        # the k problems are independent: summing their mean losses fits each one exactly
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none").mean(1).sum()
        loss = loss + 0.5 * l2 * W.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return readout_accuracy(W, b, f_test, y_test)


def adam_readout(f_train, y_train, f_test, y_test, steps: list[int], batch: int, lr: float,
                 gen: torch.Generator) -> dict[int, float]:
    """Mean test accuracy of ``k`` readouts trained by Adam from zero on ``max(steps)`` mini-batches, at each step
    count in ``steps`` (the hidden layers stay frozen)."""
    k, N, _ = f_train.shape
    W, b = zero_readout(f_train, y_train)
    opt = torch.optim.Adam([W, b], lr=lr)
    out = {}
    for t in range(1, max(steps) + 1):
        idx = torch.randint(N, (batch,), generator=gen)
        logits = torch.baddbmm(b, f_train[:, idx], W)                          # [k, batch, C]
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y_train[idx].expand(k, -1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if t in steps:
            out[t] = readout_accuracy(W, b, f_test, y_test).mean().item()
    return out


def hidden_features(arch, w, x, chunk=8192) -> torch.Tensor:
    """``[k, N, h]`` outputs of the last hidden layer of ``k`` networks ``w: [k, E]``."""
    return torch.cat([layer_outputs(arch, w, x[i:i + chunk])[-2] for i in range(0, len(x), chunk)], dim=1)


def plot(d, plt):
    fig, ax = plt.subplots(figsize=(6, 4))
    r = d["rows"]
    ax.plot([x["steps"] for x in r], [x["grown_mean"] for x in r], "o-", label="grown (mean)")
    ax.plot([x["steps"] for x in r], [x["probe_mean"] for x in r], "s-", label="readout refit (mean)")
    a_r = [x for x in r if x["adam_readout"] is not None]
    ax.plot([x["steps"] for x in a_r], [x["adam_readout"] for x in a_r], "^--",
            label="Adam, readout only (T = 0 hidden layers)")
    ax.axhline(d["linear_on_inputs"], color="grey", ls=":", label="linear on inputs")
    c = d["config"]
    ax.set(xlabel="growth steps", ylabel="test accuracy", title=f"{c['task'] or 'rule task'} {c['arch']}")
    ax.legend()
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    growth_flags(ap, arch="784,100,100,10", samples=10, steps="0,20,100,300")
    ap.add_argument("--iters", type=int, default=300, help="L-BFGS iterations of each readout fit")
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--adam-lr", type=float, default=1e-2, help="lr of the Adam readout reference")
    a = parse_run_args(ap, argv)
    conv, cfg = load_rule(a.rule)
    data = task_data(cfg, task=a.task, data_root=a.data_root)
    sizes = [int(v) for v in a.arch.split(",")]
    if len(sizes) < 3:
        raise ValueError(f"--arch needs at least one hidden layer to probe, got {a.arch}")
    steps = sorted({int(v) for v in a.steps.split(",")})
    if steps[0] != 0:
        raise ValueError("--steps must include 0: the initial networks are the reference")
    graph = graphnca.WeightGraph.from_sizes(sizes, activation=cfg.task.activation)
    arch, n = graph.archs[0], a.samples
    gen = torch.Generator().manual_seed(a.seed)
    stream_batch = a.grow_batch or cfg.task.grow_batch
    stream = growth_data(conv, data.x_train, data.y_train, stream_batch, gen)
    pixels = fit_readout(data.x_train[None], data.y_train, data.x_test[None], data.y_test, a.iters, a.l2).item()
    rows, state, done = [], None, 0
    for T in tqdm(steps, desc="probe"):
        with torch.no_grad():                      # grow on from the last state (fresh ones at T = 0)
            big, state = grow(conv, graph, n, T - done, cfg.init, gen, state=state, data=stream)
            done = T
            w = state.w.view(n, -1)
            grown = accuracy(big, state.w, data.x_test, data.y_test)
            f_tr, f_te = hidden_features(arch, w, data.x_train), hidden_features(arch, w, data.x_test)
        probe = fit_readout(f_tr, data.y_train, f_te, data.y_test, a.iters, a.l2)
        if T == 0:   # reference: Adam on the readout of the initial networks, as many batches as growth steps
            adam = adam_readout(f_tr, data.y_train, f_te, data.y_test, [t for t in steps if t], stream_batch,
                                a.adam_lr, torch.Generator().manual_seed(a.seed + 1)) if len(steps) > 1 else {}
        rows.append({"steps": T, "grown_mean": grown.mean().item(), "grown_min": grown.min().item(),
                     "probe_mean": probe.mean().item(), "probe_min": probe.min().item(), "adam_readout": adam.get(T),
                     "grown": grown.tolist(), "probe": probe.tolist()})
    print(table(rows, ["steps", "grown_mean", "grown_min", "probe_mean", "probe_min", "adam_readout"]))
    print(f"linear classifier on the raw inputs: {pixels:.4f}")

    name = f"readout_probe_{a.task or cfg.task.task}_{a.arch.replace(',', '-')}"
    report(Path(a.out), name, {"config": vars(a), "rows": rows, "linear_on_inputs": pixels}, plot)


if __name__ == "__main__":
    main()
