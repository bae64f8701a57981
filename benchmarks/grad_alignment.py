"""Gradient alignment: how far each layer's update by the rule points down the task loss's gradient.

Usage: ``python benchmarks/grad_alignment.py --rule CKPT [--task fashion-mnist] [--data-root DIR]
[--arch 784,100,100,10] [--samples 10] [--steps 1,2,5,10,20,50,100]``.

Grows ``--samples`` networks with the rule (no backprop) and, at every growth step ``t``, compares each layer's
update ``Δw_t = w_t - w_{t-1}`` with the negative gradient of the cross-entropy at ``w_{t-1}`` — computed here by
autograd for the measurement only, never shown to the rule — on two batches: the mini-batch the rule saw at that
step, and a fixed reference batch of ``--ref-batch`` training examples (the descent direction on the task). It
reports the cosine per layer, mean over networks: 1 is a gradient-descent step, 0 is what a random direction
gives (within about ``1 / sqrt(weights in the layer)``), negative climbs the loss. A conditioned rule sees the
exact error-Hebbian term at the output layer and only batch statistics of its own two neurons at hidden layers
(:mod:`graphnca.conditioning`), so this measures how much descent signal reaches each layer through the rule.

Beside it, per hidden layer, what those features could express: the cosine between the gradient and its
least-squares fit, target neuron by target neuron, by a per-neuron linear combination of what varies across that
neuron's incoming weights and the weight sees — the source neuron's batch mean and standard deviation, the
weight's Hebbian term, the weight itself and a constant — with coefficients fitted to this step's batch gradient
(``L{l}_fit``, an oracle), or taken from the previous step, as a rule whose neighbourhood means bring credit one step
late would have them: fitted to the previous batch's gradient (``L{l}_lag``), or to the previous step's gradient on
the reference batch and applied to it now (``L{l}_reflag``: what a rule averaging its credit over many batches
could reach). These are references, not bounds: the rule is nonlinear and its hidden states carry earlier steps.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from _util import growth_flags, parse_run_args, report, table

import graphnca
from graphnca.baselines import loss_gradient
from graphnca.experiments.common import load_rule, task_data
from graphnca.forward import layer_outputs, layer_params
from graphnca.graph import repeat
from graphnca.grow import fresh_states, grow, growth_data
from graphnca.state import State


def layer_cosines(dw: torch.Tensor, g: torch.Tensor, layer: torch.Tensor, n_layers: int) -> list[float]:
    """Per layer, the mean over networks of cos(``dw``, ``-g``); ``dw, g: [k, E_a]``, ``layer: [E_a]``."""
    out = []
    for l in range(n_layers):
        a, b = dw[:, layer == l], -g[:, layer == l]                            # [k, E_l]
        cos = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-30)
        out.append(cos.mean().item())
    return out


def neuron_fits(arch, w: torch.Tensor, g: torch.Tensor, x: torch.Tensor, coef=None):
    """Per hidden layer, the mean over networks of cos(G, fit of G) (module docstring), and the per-neuron
    coefficients ``[k, out, 5, 1]``; ``w, g: [k, E_a]`` weights and a gradient, ``x`` the batch the features are
    read on; with ``coef`` (from an earlier step) the fit uses those coefficients instead of fitting."""
    acts = [x.expand(w.shape[0], -1, -1), *layer_outputs(arch, w, x)]         # what enters each layer, [k, B, size]
    params, grads = layer_params(arch, w), layer_params(arch, g)
    cosines, coefs = [], []
    for l in range(arch.num_layers - 1):
        a, b, W, G = acts[l], acts[l + 1], params[l][0], grads[l][0]           # [k, B, in], [k, B, out], [k, out, in]
        rows = W.shape[1]
        hebb = b.transpose(1, 2) @ a / a.shape[1]                              # [k, out, in]
        per_source = [a.mean(1), a.std(1, unbiased=False), torch.ones_like(a[:, 0])]   # [k, in] each
        per_pair = [f.unsqueeze(1).expand(-1, rows, -1) for f in per_source]        # [k, out, in] each
        F = torch.stack([hebb, W, *per_pair], dim=-1)                          # [k, out, in, 5]
        c = torch.linalg.lstsq(F, G.unsqueeze(-1)).solution if coef is None else coef[l]   # [k, out, 5, 1]
        fit = (F @ c).squeeze(-1)                                              # [k, out, in]
        cos = (fit * G).sum((1, 2)) / (fit.norm(dim=(1, 2)) * G.norm(dim=(1, 2))).clamp_min(1e-30)
        cosines.append(cos.mean().item())
        coefs.append(c)
    return cosines, coefs


class Recorder:
    """A mini-batch source that remembers the last batch it gave (the one the rule saw at this step)."""

    def __init__(self, stream):
        self.stream, self.last = stream, None

    def __call__(self):
        self.last = self.stream()
        return self.last


def plot(d, plt):
    fig, ax = plt.subplots(figsize=(6.5, 4))
    rows = d["rows"]
    for l in range(d["layers"]):
        line, = ax.plot([r["steps"] for r in rows], [r[f"L{l}_ref"] for r in rows], "o-", label=f"layer {l + 1}")
        ax.plot([r["steps"] for r in rows], [r[f"L{l}_batch"] for r in rows], "x--", color=line.get_color())
    ax.axhline(0, color="grey", lw=0.5)
    c = d["config"]
    ax.set(xscale="log", xlabel="growth step", ylabel="cos(update, -gradient)",
           title=f"{d['task']} {c['arch']}: solid reference batch, dashed the step's own")
    ax.legend(fontsize=8)
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    growth_flags(ap, arch="784,100,100,10", samples=10, steps="1,2,5,10,20,50,100")
    ap.add_argument("--ref-batch", type=int, default=4096, help="training examples in the fixed reference batch")
    a = parse_run_args(ap, argv)
    conv, cfg = load_rule(a.rule)
    if not conv.rule.extra_inputs:
        raise ValueError("grad_alignment needs a data-conditioned rule (its growth reads mini-batches)")
    data = task_data(cfg, task=a.task, data_root=a.data_root)
    sizes = [int(v) for v in a.arch.split(",")]
    steps = sorted({int(v) for v in a.steps.split(",")})
    if steps[0] < 1:
        raise ValueError(f"--steps are growth steps >= 1, got {a.steps}")
    graph = graphnca.WeightGraph.from_sizes(sizes, activation=cfg.task.activation)
    n, n_layers, layer = a.samples, len(sizes) - 1, graph.layer
    gen = torch.Generator().manual_seed(a.seed)
    ref = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(a.seed + 1))[:a.ref_batch]
    x_ref, y_ref = data.x_train[ref], data.y_train[ref]
    stream = Recorder(growth_data(conv, data.x_train, data.y_train, a.grow_batch or cfg.task.grow_batch, gen))
    big = repeat(graph, n)
    rows, prev = [], {}

    def measure(t, state):
        w, w0 = state.w.view(n, -1), prev["w"]
        if t in steps or t + 1 in steps:
            (x, y), arch = stream.last, graph.archs[0]
            grads = {"batch": (loss_gradient(big, w0.flatten(), x, y).view(n, -1), x),
                     "ref": (loss_gradient(big, w0.flatten(), x_ref, y_ref).view(n, -1), x_ref)}
            fits = {k: neuron_fits(arch, w0, g, xb) for k, (g, xb) in grads.items()}
            if t in steps:
                row = {"steps": t}
                for name, (g, _) in grads.items():
                    for l, c in enumerate(layer_cosines(w - w0, g, layer, n_layers)):
                        row[f"L{l}_{name}"] = c
                lag = {k: neuron_fits(arch, w0, g, xb, prev[k])[0] if k in prev else None
                       for k, (g, xb) in grads.items()}
                for l in range(n_layers - 1):
                    row[f"L{l}_fit"] = fits["batch"][0][l]
                    row[f"L{l}_lag"] = lag["batch"] and lag["batch"][l]
                    row[f"L{l}_reflag"] = lag["ref"] and lag["ref"][l]
                rows.append(row)
            for k in grads:                    # the coefficients a rule one step behind could have
                prev[k] = fits[k][1]
        else:
            prev.pop("batch", None), prev.pop("ref", None)
        prev["w"] = w.clone()
        bar.update(1)

    with tqdm(total=max(steps), desc="grow") as bar:
        state0 = State.unpack(fresh_states(graph, n, conv.hidden_size, cfg.init, gen).view(big.num_weights, -1))
        prev["w"] = state0.w.view(n, -1).clone()
        grow(conv, graph, n, max(steps), cfg.init, gen, state=state0, data=stream, callback=measure)
    cols = ["steps"] + [f"L{l}_{s}" for l in range(n_layers)
                        for s in (("ref", "batch", "fit", "lag", "reflag") if l < n_layers - 1 else ("ref", "batch"))]
    print(table(rows, cols))
    name = f"grad_alignment_{a.task or cfg.task.task}_{a.arch.replace(',', '-')}"
    report(Path(a.out), name, {"config": vars(a), "task": data.name, "layers": n_layers, "rows": rows}, plot)


if __name__ == "__main__":
    main()
