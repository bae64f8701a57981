"""One meta-step (rollout of T growth steps, task loss, backward into the rule) three ways, in one process:

* ``library``: ``graphnca.rollout`` on a batched :class:`~graphnca.WeightGraph` (the path meta-training runs);
* ``reference``: the same rule on the materialised ``[E, 3(1+H)]`` perception, neuron means by ``index_add_`` and
  gathered back by indexing, all differentiated by plain autograd;
* ``dense``: a per-layer formulation of the same rule: each layer's states a ``[k, out, in + 1, D]`` tensor (bias
  as the last column), means by tensor reductions, perception by broadcast, no index at all.

The three must agree on the loss and on every rule gradient (checked before timing). Each allocator setting runs
in its own process (glibc's default, and :func:`graphnca.runinfo.reuse_freed_memory`), so the ratio of today's
library path to the reference path under the default allocator is in the same table. Usage:
``python benchmarks/meta_step.py [--arch 784,100,100,10 ...] [--batch 4] [--steps 10] [--hidden-size 24]``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from _util import check_new, out_flags, report, table

import graphnca
from graphnca.rule import LocalRule

PATHS = ("library", "reference", "dense")


def _rule(hidden: int, widths, seed: int) -> LocalRule:
    torch.manual_seed(seed)
    rule = LocalRule(hidden, widths, step_size=0.1)
    torch.nn.init.normal_(rule.rest[-1].weight, std=0.1)       # the zero init would make every gradient trivial
    return rule


def _reference_step(graph, rule: LocalRule, x, mask):
    n = graph.num_neurons
    s = x.new_zeros(n, x.shape[1]).index_add(0, graph.dst, x).index_add(0, graph.src, x)      # [N, D]
    deg = (graph.in_degree + graph.out_degree).clamp(min=1).to(x.dtype).unsqueeze(1)
    m = s / deg
    return x + mask * rule(torch.cat([x, m[graph.dst], m[graph.src]], dim=1))


def _to_dense(arch, x):
    """Flat ``[k, E_a, D]`` states of ``k`` networks of ``arch`` -> per layer ``[k, out, in + 1, D]``."""
    out, off = [], 0
    for n_in, n_out in zip(arch[:-1], arch[1:]):
        w = x[:, off:off + n_out * n_in].reshape(x.shape[0], n_out, n_in, -1)
        b = x[:, off + n_out * n_in:off + n_out * (n_in + 1)].unsqueeze(2)
        out.append(torch.cat([w, b], dim=2))
        off += n_out * (n_in + 1)
    return out


def _dense_step(rule: LocalRule, xs, masks):
    L = len(xs)
    means = []                                    # per neuron layer j: [k, n_j, D]
    for j in range(L + 1):
        s, c = 0, 0
        if j > 0:                                 # In(n): row of layer j - 1, bias column included
            s, c = s + xs[j - 1].sum(2), c + xs[j - 1].shape[2]
        if j < L:                                 # Out(n): column of layer j
            s, c = s + xs[j][:, :, :-1].sum(1), c + xs[j].shape[1]
        means.append(s / c)
    new = []
    for l, x in enumerate(xs):
        k, n_out, n_in1, d = x.shape
        bias_mean = x[:, :, -1].mean(1, keepdim=True)                            # [k, 1, D]: the bias unit
        src = torch.cat([means[l], bias_mean], dim=1)                             # [k, in + 1, D]
        p = torch.cat([x, means[l + 1].unsqueeze(2).expand(k, n_out, n_in1, d),
                       src.unsqueeze(1).expand(k, n_out, n_in1, d)], dim=3)
        new.append(x + masks[l] * rule(p.reshape(-1, 3 * d)).view_as(x))
    return new


def _dense_logits(xs, inputs, act):
    y = inputs.expand(xs[0].shape[0], -1, -1)
    for l, x in enumerate(xs):
        y = torch.matmul(y, x[..., :-1, 0].transpose(1, 2)) + x[..., -1, 0].unsqueeze(1)
        if l < len(xs) - 1:
            y = act(y)
    return y                                                                      # [k, B, C]


def meta_step(path: str, archs, k: int, rule: LocalRule, x0, masks, data, steps: int, checkpoint: bool):
    """Loss of one meta-step by ``path``; ``rule``'s gradients are left in ``.grad``."""
    rule.zero_grad(set_to_none=True)
    xb, yb = data
    graph = graphnca.batch([graphnca.WeightGraph.from_sizes(a) for a in archs for _ in range(k)])
    if path == "library":
        conv = graphnca.MetaNCAConv(rule=rule, neighbourhood="incident")      # the reference paths' means
        x = x0
        for t in range(steps):
            def step(x, m):
                return conv(x, graph=graph, fire_mask=m)
            x = torch.utils.checkpoint.checkpoint(step, x, masks[t], use_reentrant=False) if checkpoint \
                else step(x, masks[t])
        logits = graphnca.task_forward(graph, x[:, 0], xb)                        # [B_nets, N, C]
        loss = F.cross_entropy(logits.transpose(1, 2), yb.expand(logits.shape[0], -1))
    elif path == "reference":
        x = x0
        for t in range(steps):
            x = torch.utils.checkpoint.checkpoint(_reference_step, graph, rule, x, masks[t], use_reentrant=False) \
                if checkpoint else _reference_step(graph, rule, x, masks[t])
        logits = graphnca.task_forward(graph, x[:, 0], xb)
        loss = F.cross_entropy(logits.transpose(1, 2), yb.expand(logits.shape[0], -1))
    else:
        per_arch = list(torch.split(x0, [k * graphnca.WeightGraph.from_sizes(a).num_weights for a in archs]))
        states = [_to_dense(a, s.view(k, -1, s.shape[1])) for a, s in zip(archs, per_arch)]
        mask_arch = list(torch.split(torch.stack(masks), [k * graphnca.WeightGraph.from_sizes(a).num_weights
                                                          for a in archs], dim=1))
        losses = []
        for a, xs, ms in zip(archs, states, mask_arch):
            dense_masks = [_to_dense(a, ms[t].view(k, -1, 1)) for t in range(steps)]
            for t in range(steps):
                xs = torch.utils.checkpoint.checkpoint(_dense_step, rule, xs, dense_masks[t], use_reentrant=False) \
                    if checkpoint else _dense_step(rule, xs, dense_masks[t])
            logits = _dense_logits(xs, xb, torch.relu)
            losses.append(F.cross_entropy(logits.transpose(1, 2), yb.expand(k, -1), reduction="sum"))
        loss = sum(losses) / (len(archs) * k * len(yb))
    loss.backward()
    return loss.item()


def child(args) -> dict:
    if args.allocator == "reuse":
        assert graphnca.runinfo.reuse_freed_memory(), "glibc heap reuse is not available here"
    torch.set_num_threads(args.threads)
    archs = [tuple(int(v) for v in a.split(",")) for a in args.arch]
    widths = tuple(int(v) for v in args.widths.split(","))
    rule = _rule(args.hidden_size, widths, args.seed)
    graph = graphnca.batch([graphnca.WeightGraph.from_sizes(a) for a in archs for _ in range(args.batch)])
    g = torch.Generator().manual_seed(args.seed)
    x0 = graphnca.init_state(graph, args.hidden_size, generator=g).pack()
    masks = [(torch.rand(graph.num_weights, 1, generator=g) < 0.5).float() for _ in range(args.steps)]
    data = (torch.randn(args.data_batch, archs[0][0], generator=g), torch.randint(0, archs[0][-1],
                                                                                   (args.data_batch,), generator=g))
    ref_loss, ref_grad, agree = None, None, {}
    for path in PATHS:                     # agreement first (one untimed run each), then timing
        loss = meta_step(path, archs, args.batch, rule, x0, masks, data, args.steps, args.checkpoint)
        grad = torch.cat([p.grad.flatten() for p in rule.parameters()])
        if ref_loss is None:
            ref_loss, ref_grad = loss, grad
        err = ((grad - ref_grad).abs().max() / ref_grad.abs().max()).item()
        agree[path] = {"loss": loss, "loss_rel_err": abs(loss - ref_loss) / abs(ref_loss), "grad_rel_err": err}
    times = {}
    for path in PATHS:
        ts = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            meta_step(path, archs, args.batch, rule, x0, masks, data, args.steps, args.checkpoint)
            ts.append(time.perf_counter() - t)
        times[path] = sorted(ts)[len(ts) // 2]
        print(f"  [{args.allocator}] {path}: {times[path]:.3f} s", file=sys.stderr, flush=True)
    return {"allocator": args.allocator, "weights": graph.num_weights, "agree": agree, "seconds": times}


def plot(d, plt):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    rows = d["rows"]
    xs = range(len(PATHS))
    for i, r in enumerate(rows):
        ax.bar([x + 0.4 * i for x in xs], [r["seconds"][p] for p in PATHS], width=0.4, label=r["allocator"])
    ax.set(xticks=[x + 0.2 for x in xs], xticklabels=PATHS, ylabel="seconds per meta-step",
           title=f"{' + '.join(d['config']['arch'])} x {d['config']['batch']}, T = {d['config']['steps']}, "
                 f"H = {d['config']['hidden_size']}")
    ax.legend(title="allocator")
    return fig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", action="append", default=None, help="layer sizes (repeat); default 784,100,100,10")
    ap.add_argument("--batch", type=int, default=4, help="networks per architecture")
    ap.add_argument("--steps", type=int, default=10, help="growth steps T of the rollout")
    ap.add_argument("--hidden-size", type=int, default=24)
    ap.add_argument("--widths", default="64", help="the rule MLP's hidden widths")
    ap.add_argument("--data-batch", type=int, default=256, help="examples in the task loss")
    ap.add_argument("--checkpoint", action="store_true", help="recompute each growth step in the backward pass")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--allocator", choices=["default", "reuse", "both"], default="both")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    out_flags(ap)
    args = ap.parse_args(argv)
    args.arch = args.arch or ["784,100,100,10"]
    if args.child:
        print(json.dumps(child(args)))
        return
    check_new(args.out, "meta_step", args.force)
    rows = []
    for alloc in (("default", "reuse") if args.allocator == "both" else (args.allocator,)):
        cmd = [sys.executable, __file__, "--child", "--allocator", alloc] + [
            f for a in args.arch for f in ("--arch", a)] + [
            "--batch", str(args.batch), "--steps", str(args.steps), "--hidden-size", str(args.hidden_size),
            "--widths", args.widths, "--data-batch", str(args.data_batch), "--repeats", str(args.repeats),
            "--threads", str(args.threads), "--seed", str(args.seed)] + (["--checkpoint"] if args.checkpoint else [])
        res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    for r in rows:
        s = r["seconds"]
        r |= {"library_s": s["library"], "reference_s": s["reference"], "dense_s": s["dense"],
              "library_vs_dense": s["library"] / s["dense"], "reference_vs_library": s["reference"] / s["library"],
              "max_grad_rel_err": max(a["grad_rel_err"] for a in r["agree"].values())}
    # like for like: every ratio compares two paths under one allocator; the allocator's own effect is apart
    summary = {f"{k}_{r['allocator']}": r[k] for r in rows for k in ("reference_vs_library", "library_vs_dense")}
    if len(rows) == 2:
        summary["library_default_allocator_vs_heap_reuse"] = rows[0]["library_s"] / rows[1]["library_s"]
    print(table(rows, ["allocator", "weights", "library_s", "reference_s", "dense_s", "library_vs_dense",
                       "reference_vs_library", "max_grad_rel_err"]))
    for k, v in summary.items():
        print(f"{k}: {v:.2f}")
    report(Path(args.out), "meta_step", {"config": vars(args), "rows": rows, "summary": summary}, plot)


if __name__ == "__main__":
    main()
