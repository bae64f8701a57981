"""Local credit: how far hand-written local learners get with what a data-conditioned weight sees.

Usage: ``python benchmarks/local_credit.py [--task xor|mnist|...] [--data-root DIR] [--arch 8,32,32,2 | --grid
10,20,...,100] [--nets 10] [--steps 40,200,1000,3000] [--lr 0.1,0.3,1]
[--learners readout,data,moments,sign,feedback,backprop] [--optimizer sgd|adam]``.

No rule and no meta-training: each learner takes ``--nets`` fresh networks and, for every step, one mini-batch
of ``--batch`` training examples, then moves every weight by ``-lr`` times its estimate of the loss gradient
(``--optimizer adam``: hands that estimate to ``torch.optim.Adam`` instead, whose two moments are per-weight
running averages of the weight's own estimates — state a rule could hold in two more hidden channels).

* ``readout``: the output layer's exact gradient, which is its own error-Hebbian feature; hidden layers frozen.
* ``data``: reads only the seven features of ``condition="data"`` (:mod:`graphnca.conditioning`), the weights
  and sums over each neuron's outgoing weights. Output layer as ``readout``; each hidden neuron ``j`` gets a
  credit ``(alpha_j, beta_j)``: the regression on ``a_j`` of the credit ``sum_k W_kj * credit_k`` its outgoing
  weights pass back, formed from their covariances (error-Hebbian minus means at the outputs, Hebbian minus means
  below); its incoming weights move by ``alpha_j * Hebbian + beta_j * source mean``.
* ``moments``: the same computation from the thirteen features of ``condition="moments"``, whose slope-weighted
  moments make the regression exact at the last hidden layer (the module docstring derives it).
* ``oracle``: the form ``alpha_j * Hebbian + beta_j * source mean`` with ``(alpha_j, beta_j)`` the regression on
  ``a_j`` of the true per-example backpropagated credit: the best a perfect local credit of this form can do.
* ``backprop``: the exact gradient by autograd. Both are references no rule may use.

Per-example credit (what the batch-statistics learners above lack): every hidden neuron holds a vector of ``B``
numbers, the sum over its outgoing weights of a message ``b_kj * delta_k`` (per example), times its own slope;
every weight moves by ``<delta_j a_i>``, its error-Hebbian term with that credit. The message weight ``b_kj`` is
the weight's own, never its neighbours':

* ``sign``: ``b = sign(w) * s``, with ``s`` the weight's initial scale (Kaiming's ``sqrt(2 / fan-in)``): sign
  symmetry, which reads the weight's current sign.
* ``feedback``: ``b`` drawn at the start like the weights and kept fixed (a per-weight constant a hidden state
  could hold): feedback alignment, which reads nothing of the forward weight.

With ``b = w`` the same computation is backprop (tested), so these show what per-example credit through a
weight's own state buys over batch statistics, short of a weight reading its forward value.

``--timing``: the local learners pass credit through all layers within one step (``now``); a rule moves it one
layer per growth step through its states. ``mixed``: a neuron's credit from the previous step (previous batch and
weights) meets the weight's Hebbian term of this step, as in a rule whose states hold credit only. ``delayed``:
each hidden layer applies its whole update (credit and Hebbian term of the same batch) one step later per layer
from the output, as a rule that also keeps its own previous statistics in its state could. References for what
the features allow, not bounds on what a rule can learn.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from tqdm.auto import tqdm

from _util import parse_run_args, report, run_flags, table

import graphnca
from graphnca.baselines import feedback_direction, init_scale, loss_gradient
from graphnca.conditioning import DataStream, data_features
from graphnca.data import load_task
from graphnca.forward import layer_outputs, layer_params
from graphnca.graph import repeat
from graphnca.grow import accuracy
from graphnca.state import init_weights

LEARNERS = ("readout", "data", "moments", "oracle", "sign", "feedback", "backprop")
# feature columns (graphnca.conditioning): sources' mean / std, targets' mean, mean error, Hebbian, error-Hebbian,
# then the moments: sources' mean slope s and mean s*a, and <s a_i a_j>, <s a_j>, <s a_i eps_j>, <s eps_j>
MU_I, SD_I, MU_J, ERR_J, HEBB, EHEBB, S_I, SA_I, SAA, SA, SAE, SE = 0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12


def local_direction(arch, w, feats, moments: bool, prev=None):
    """``([k, E_a], credit)``: gradient estimate of ``k`` dense networks from their features ``[k, E_a, F]`` (see
    above), and each hidden layer's neuron credit ``(alpha, beta)``. With ``prev`` (the previous step's credit,
    ``--timing mixed``) a neuron's credit is formed from the next layer's previous credit, and weights move by
    their target's previous credit."""
    col = {c: layer_params(arch, feats[..., c]) for c in range(feats.shape[-1])}   # per layer (W-like, b-like)
    P, L = layer_params(arch, w), arch.num_layers
    grads, credit = [None] * L, [None] * L
    grads[L - 1] = col[EHEBB][L - 1]                                # exact: <a_i eps_j>, and <eps_j> for biases
    for l in range(L - 1, 0, -1):                                   # credit of the neurons that layer l reads
        W = P[l][0]                                                 # [k, out, in]
        f = {c: t[l][0] for c, t in col.items()}                    # [k, out, in] each
        mu, var = f[MU_I][:, 0], f[SD_I][:, 0].square().clamp_min(1e-6)   # [k, in]: any row holds the source's
        nxt = (prev if prev is not None else credit)[l + 1] if l < L - 1 else None
        if nxt is None and l < L - 1:                               # nothing has arrived yet (first lagged step)
            alpha = beta = torch.zeros_like(mu)
        else:
            if l == L - 1 and moments:
                cov, mean = W * (f[SAE] - f[SE] * mu[:, None]), W * f[SE]
            elif l == L - 1:
                cov, mean = W * (f[EHEBB] - f[ERR_J] * mu[:, None]), W * f[ERR_J]
            elif moments:
                a, b = nxt[0][..., None], nxt[1][..., None]         # [k, out, 1]: the next neurons' credit
                cov = W * (a * (f[SAA] - f[SA] * mu[:, None]) + b * (f[SA_I] - f[S_I] * mu[:, None]))
                mean = W * (a * f[SA] + b * f[S_I])
            else:
                a, b = nxt[0][..., None], nxt[1][..., None]
                cov = W * a * (f[HEBB] - f[MU_J] * mu[:, None])
                mean = W * (a * f[MU_J] + b)
            alpha = cov.sum(1) / var                                # [k, in]: sums over outgoing weights
            beta = mean.sum(1) - alpha * mu
        credit[l] = (alpha, beta)
        use = credit[l] if prev is None else prev[l]
        if use is None:
            use = (torch.zeros_like(alpha), torch.zeros_like(beta))
        (hebb, hebb_b), (mu_src, mu_src_b) = col[HEBB][l - 1], col[MU_I][l - 1]
        grads[l - 1] = (use[0][..., None] * hebb + use[1][..., None] * mu_src, use[0] * hebb_b + use[1] * mu_src_b)
    return torch.cat([t.flatten(1) for g in grads for t in g if t is not None], dim=1), credit


def oracle_direction(arch, w, x, y):
    """``[k, E_a]``: per hidden neuron, the regression on its output of its per-example backpropagated credit
    (computed here by hand, a reference), times its incoming weights' Hebbian terms and source means."""
    outs, slopes = layer_outputs(arch, w, x, slopes=True)              # L x [k, B, size]
    P, L, B = layer_params(arch, w), arch.num_layers, x.shape[0]
    acts = [x.expand(w.shape[0], -1, -1), *outs[:-1]]
    delta = torch.softmax(outs[-1], -1) - torch.nn.functional.one_hot(y, arch.sizes[-1])      # [k, B, C]
    grads = [(delta.transpose(1, 2) @ acts[-1] / B, delta.mean(1))]
    for l in range(L - 1, 0, -1):
        delta = (delta @ P[l][0]) * slopes[l - 1]                      # [k, B, size_l]: true per-example credit
        a = acts[l]
        mu, var = a.mean(1), a.var(1, unbiased=False).clamp_min(1e-6)
        alpha = ((delta - delta.mean(1, keepdim=True)) * (a - mu[:, None])).mean(1) / var
        beta = delta.mean(1) - alpha * mu
        src = acts[l - 1]
        hebb = a.transpose(1, 2) @ src / B                            # [k, out, in]
        grads.insert(0, (alpha[..., None] * hebb + beta[..., None] * src.mean(1)[:, None], alpha * mu + beta))
    return torch.cat([t.flatten(1) for g in grads for t in g], dim=1)


def direction(learner, graph, w, x, y, k, prev=None, fb=None):
    """``([E], credit)``: update direction (a gradient estimate) of every network for one mini-batch, and the
    local learners' neuron credit (``prev``: the previous step's, for ``--timing mixed``; ``fb``: the fixed
    feedback weights of ``feedback``)."""
    if learner == "backprop":
        return loss_gradient(graph, w, x, y), None
    if learner in ("sign", "feedback"):
        fb = torch.sign(w) * init_scale(graph) if learner == "sign" else fb
        return feedback_direction(graph.archs[0], w.view(k, -1), fb.view(k, -1), x, y).flatten(), None
    if learner == "oracle":
        return oracle_direction(graph.archs[0], w.view(k, -1), x, y).flatten(), None
    feats = data_features(graph, w, x, y, condition="moments" if learner == "moments" else "data")
    if learner == "readout":
        g = feats[:, EHEBB].clone()
        g[graph.hidden_w] = 0.0
        return g, None
    feats = feats.view(k, graph.num_weights // k, -1)                    # [k, E_a, F]
    d, credit = local_direction(graph.archs[0], w.view(k, -1), feats, learner == "moments", prev)
    return d.flatten(), credit


def run(learner, lr, graph, data, a, eval_at):
    gen = torch.Generator().manual_seed(a.seed)
    big = repeat(graph, a.nets)
    w = init_weights(big, a.weight_init, gen) * a.weight_scale          # [E]: the same start for every learner
    # own generator, so every learner sees the same batches
    fb = init_weights(big, "kaiming", torch.Generator().manual_seed(a.seed + 1)) if learner == "feedback" else None
    stream = DataStream(data.x_train, data.y_train, a.batch, gen)
    L = graph.archs[0].num_layers
    row, credit = {"learner": learner, "lr": lr}, [None] * L
    adam = None
    if a.optimizer == "adam":                       # the weights Adam moves, its moments kept per weight
        param = torch.nn.Parameter(w.clone())
        adam = torch.optim.Adam([param], lr=lr)
    late = (L - 1 - big.layer).clamp_min(0)        # [E] "delayed": steps each layer's part waits (0 at the output)
    past = []                                      # the last L directions, newest last
    for t in range(1, max(eval_at) + 1):
        d, credit = direction(learner, big, w, *stream(), a.nets, credit if a.timing == "mixed" else None, fb)
        if a.timing == "delayed":
            past = (past + [d])[-L:]
            d = torch.zeros_like(w)
            for k in range(len(past)):             # layer l moves by its part of the direction k steps ago
                d[late == k] = past[-1 - k][late == k]
        if adam is None:
            w = w - lr * d
        else:
            param.grad = d
            adam.step()
            w = param.detach().clone()
        if t in eval_at:
            row[f"acc@{t}"] = accuracy(big, w, data.x_test, data.y_test).mean().item()
    return row


def grid_summary(rows: list[dict], steps: list[int]) -> list[dict]:
    """Per (learner, lr): mean and worst over architectures at each step."""
    out = []
    for key in dict.fromkeys((r["learner"], r["lr"]) for r in rows):
        mine = [r for r in rows if (r["learner"], r["lr"]) == key]
        row = {"learner": key[0], "lr": key[1], "archs": len(mine)}
        for t in steps:
            row[f"mean@{t}"] = sum(r[f"acc@{t}"] for r in mine) / len(mine)
            row[f"min@{t}"] = min(r[f"acc@{t}"] for r in mine)
        out.append(row)
    return out


def plot(d, plt):
    fig, ax = plt.subplots(figsize=(6.5, 4))
    steps, archs = d["steps"], d["config"]["arch"]
    summary = grid_summary(d["rows"], steps)             # one architecture: its own numbers
    for learner in d["config"]["learners"].split(","):
        best = max((r for r in summary if r["learner"] == learner), key=lambda r: r[f"mean@{steps[-1]}"])
        ax.plot(steps, [best[f"mean@{t}"] for t in steps], "o-", label=f"{learner} (lr {best['lr']:g})")
    what = archs[0] if len(archs) == 1 else f"mean over {len(archs)} architectures"
    ax.set(xscale="log", xlabel="updates (one mini-batch each)", ylabel="test accuracy",
           title=f"{d['task']} {what}: local learners, best lr each")
    ax.legend(fontsize=8)
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="xor")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--arch", action="append", default=None, help="repeatable (default 8,32,32,2)")
    ap.add_argument("--grid", default=None, help="X,Y values: every [in, X, Y, out] (in, out from the task)")
    ap.add_argument("--activation", default="tanh")
    ap.add_argument("--nets", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", default="40,200,1000,3000", help="updates at which to evaluate")
    ap.add_argument("--lr", default="0.1,0.3,1")
    ap.add_argument("--learners", default=",".join(LEARNERS))
    ap.add_argument("--weight-init", default="kaiming")
    ap.add_argument("--weight-scale", type=float, default=1.0)
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                    help="how a weight turns its gradient estimate into a step (module docstring)")
    ap.add_argument("--timing", choices=["now", "mixed", "delayed"], default="now",
                    help="when credit arrives (module docstring)")
    run_flags(ap)
    a = parse_run_args(ap, argv)
    learners = a.learners.split(",")
    if unknown := set(learners) - set(LEARNERS):
        raise ValueError(f"unknown learners {sorted(unknown)}; choose from {LEARNERS}")
    eval_at, lrs = sorted({int(v) for v in a.steps.split(",")}), [float(v) for v in a.lr.split(",")]
    data = load_task(a.task, data_root=a.data_root)
    if a.grid and a.arch:
        raise ValueError("give --arch or --grid, not both")
    if a.grid:
        hidden = [int(v) for v in a.grid.split(",")]
        a.arch = [f"{data.x_train.shape[1]},{u},{v},{data.num_classes}" for u in hidden for v in hidden]
    a.arch = a.arch or ["8,32,32,2"]
    rows = []
    for arch, learner, lr in tqdm([(s, m, lr) for s in a.arch for m in learners for lr in lrs], desc="learners"):
        graph = graphnca.WeightGraph.from_sizes([int(v) for v in arch.split(",")], activation=a.activation)
        rows.append({"arch": arch, **run(learner, lr, graph, data, a, set(eval_at))})
    if len(a.arch) == 1:
        print(table(rows, ["learner", "lr"] + [f"acc@{t}" for t in eval_at]))
    else:
        print(table(grid_summary(rows, eval_at), ["learner", "lr", "archs"]
                    + [f"{s}@{t}" for t in eval_at for s in ("mean", "min")]))
    what = f"grid{a.grid.replace(',', '-')}" if a.grid else "_".join(s.replace(",", "-") for s in a.arch)
    name = f"local_credit_{a.task}_{what}" + ("" if a.timing == "now" else f"_{a.timing}")
    name += "" if a.learners == ",".join(LEARNERS) else "_" + a.learners.replace(",", "-")
    name += "" if a.optimizer == "sgd" else f"_{a.optimizer}"
    report(Path(a.out), name, {"config": vars(a), "task": data.name, "steps": eval_at, "rows": rows}, plot)


if __name__ == "__main__":
    main()
