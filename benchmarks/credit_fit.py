"""Credit fit: a ``condition="feedback"`` rule fitted to the sign-symmetry learner by teacher forcing, then grown.

Usage: ``python benchmarks/credit_fit.py --task mnist --data-root DIR [--fit-arch 784,10,10,10 ...] [--arch ...]
[--lr 0.3] [--sign-scale 1] [--steps 200,1000] [--out DIR]``.

The meta-trained feedback rule (``mnist_feedback_long.pt``) stops improving after ~200 growth steps (grid 0.880),
while the hand-written learners on the same inputs keep going (``local_credit.py``: sign symmetry 0.940 at 1000
updates, 0.953 at 3000). This script asks whether a rule *can* be that learner, and gives meta-training a start
that keeps learning. The teacher is sign symmetry written as a per-weight rule on a ``feedback`` rule's inputs only:
a weight ``e`` with state ``[w, b, ...]`` (``b`` the message weight, the last hidden channel) and the credit-Hebbian
feature ``g = <a_i delta_j>`` (:mod:`graphnca.conditioning`; the error-Hebbian term at output weights) moves by

* ``dw = s tanh(-lr (g + lambda w) / s)``: SGD on its own credit-Hebbian term, with weight decay ``lambda`` on its
  own weight (``--weight-decay``, default 0), bounded by the rule's step ``s`` as every rule is;
* ``db = s tanh(kappa (c sign(w) - b))``: the message weight settles at ``c`` times the sign of its own weight
  (``--sign-scale c``, ``--sign-gain kappa``) — it reads its own weight, never another's;
* every other hidden channel stays 0.

The student is a :class:`~graphnca.LocalRule` regressed on the teacher's one-step map (rows from the teacher's
trajectories on the ``--fit-arch`` networks, then ``--dagger`` rounds from its own, labelled by the teacher; errors
scaled per channel within hidden and within output weights, inputs per column: ``rule_fit.balance``). Then teacher
and student grow fresh networks of the fitting and the unseen architectures from the same seeds and batches. The
fit is written as a checkpoint that ``graphnca grow`` / ``heatmap`` take at ``--step-scale 1`` and ``graphnca
train --init-from`` takes to meta-train on.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from _util import report, table
from rule_fit import balance, fit, fit_flags, group_rel_err, plot, save_fitted
from step_scale import split_train

import graphnca
from graphnca.conditioning import DataStream, data_features
from graphnca.data import load_task
from graphnca.graph import batch
from graphnca.grow import accuracy
from graphnca.perception import perceive_hub
from graphnca.schedules import StepSchedule
from graphnca.state import InitConfig, init_state

CREDIT = 8          # feature column of <a_i delta_j> (condition="feedback")
INIT = InitConfig(weight_init="kaiming", weight_scale=1.0, hidden_init="random")


def teacher_delta(x, feats, lr: float, step: float, sign_scale: float, sign_gain: float, weight_decay: float = 0.0):
    """``[E, 1 + H]``: the teacher's update of states ``x = [w, h..., b]`` (module docstring)."""
    dw = step * torch.tanh(-lr * (feats[:, CREDIT] + weight_decay * x[:, 0]) / step)
    db = step * torch.tanh(sign_gain * (sign_scale * torch.sign(x[:, 0]) - x[:, -1]))
    out = torch.zeros_like(x)
    out[:, 0], out[:, -1] = dw, db
    return out


def perception(graph, x, neighbourhood: str, stream):
    """``(rule input [E, 3(1+H) + 9], features [E, 9])`` of states ``x`` on the next batch of ``stream``."""
    feats = data_features(graph, x[:, 0], *stream(), condition="feedback", feedback=x[:, -1])
    return torch.cat([perceive_hub(graph, x, neighbourhood), feats], 1), feats


@torch.no_grad()
def grow(graph, step, x, stream, steps: int, eval_at, evals, neighbourhood: str, keep=None, rows_per_step=0,
         gen=None, multiple=None):
    """Run ``step(p, feats, x) -> delta`` for ``steps`` updates, each times ``multiple[t - 1]`` (a step schedule's
    multiples; ``None``: 1); at ``eval_at`` the accuracy on each ``evals[name] = (x, y)``; with ``keep`` (a set of
    steps) also return up to ``rows_per_step`` hidden-weight rows (and every output-weight row) seen there."""
    acc, seen = {}, []
    for t in range(1, steps + 1):
        p, feats = perception(graph, x, neighbourhood, stream)
        d = step(p, feats, x)
        if multiple is not None:
            d = multiple[t - 1] * d
        if keep is not None and t in keep:
            hid = graph.hidden_w
            idx = torch.nonzero(hid).flatten()
            idx = idx[torch.randperm(len(idx), generator=gen)[:rows_per_step]]
            idx = torch.cat([idx, torch.nonzero(~hid).flatten()])
            seen.append((p[idx], x[idx], feats[idx], hid[idx]))
        x = x + d
        if t in eval_at:
            acc.update({f"{k}@{t}": accuracy(graph, x[:, 0], *xy).mean().item() for k, xy in evals.items()})
    return acc, seen


def fit_rule(a, train, g_fit, teach, gen):
    """The student, fitted to the teacher by regression on rows from the teacher's (then its own) trajectories."""
    rule = graphnca.LocalRule(a.hidden_size, tuple(int(v) for v in a.widths.split(",")), a.step_size, 9, 0.0,
                              a.interaction)
    conv = graphnca.MetaNCAConv(rule=rule, fire_rate=1.0, neighbourhood=a.neighbourhood, condition="feedback").eval()
    keep = set(torch.randperm(a.fit_steps, generator=gen)[:a.fit_samples].add(1).tolist())
    fits, X, Y, hid, t0 = [], None, None, None, time.time()
    for rnd in range(1 + a.dagger):                 # round 0: teacher trajectories; then the student's own
        step = (lambda p, f, x: teach(x, f)) if rnd == 0 else (lambda p, f, x: rule(p))
        stream = DataStream(*train, a.batch, gen)
        x0 = init_state(g_fit, a.hidden_size, INIT, gen).pack()
        acc, seen = grow(g_fit, step, x0, stream, a.fit_steps, {a.fit_steps}, {"train": train}, a.neighbourhood,
                         keep, a.fit_rows, gen)
        acc = acc[f"train@{a.fit_steps}"]
        Xr = torch.cat([s[0] for s in seen])
        Yr = torch.cat([teach(s[1], s[2]) for s in seen])
        hr = torch.cat([s[3] for s in seen])
        if X is None:                               # the teacher's rows set the scales
            X, Y, hid = Xr, Yr, hr
            scale, spread, _ = balance(rule, X, Y, hid)
        else:
            ok = torch.isfinite(Xr).all(1)
            X, Y, hid = torch.cat([X, Xr[ok]]), torch.cat([Y, Yr[ok]]), torch.cat([hid, hr[ok]])
        sq, err = fit(rule, X, Y, scale(hid), a.epochs, a.fit_lr, a.fit_batch, gen, spread)
        fits.append({"round": rnd, "rows": len(X), "rel_err": err, **group_rel_err(sq, Y, hid),
                     "trajectory_train_acc": acc, "seconds": time.time() - t0})
        print(f"round {rnd}: trajectory's training accuracy {acc:.3f}; {len(X)} rows; 1 - R^2 (w, ..., b): "
              + ", ".join(f"{e:.3g}" for e in err) + "; hidden-weight rows: "
              + ", ".join("-" if e is None else f"{e:.3g}" for e in fits[-1]["hidden"]))
    return conv, fits


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    fit_flags(ap, task="mnist", nets=2, fit_steps=1000, fit_samples=40, widths="32", interaction=4, step_size=1.0,
              epochs=20, steps="200,1000")
    ap.add_argument("--sign-scale", type=float, default=1.0, help="c: message weights settle at c sign(w)")
    ap.add_argument("--sign-gain", type=float, default=5.0, help="kappa: how fast they get there")
    ap.add_argument("--teacher-only", action="store_true", help="grow with the teacher alone (choose lr, c)")
    ap.add_argument("--hidden-size", type=int, default=1)
    ap.add_argument("--neighbourhood", default="incident")
    ap.add_argument("--fit-rows", type=int, default=20000, help="hidden-weight rows kept per kept step")
    ap.add_argument("--val", type=int, default=10000, help="training examples held out (never grown on) to choose by")
    ap.add_argument("--weight-decay", type=float, default=0.0, help="lambda: the teacher's decay of its own weight")
    ap.add_argument("--step-schedule", default=None,
                    help="K1xT1,...: the evaluation growth's step multiples (graphnca grow's flag); its length must "
                         "cover --steps")
    ap.add_argument("--name", default=None, help="output name (default credit_fit_TASK)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.hidden_size < 1:
        raise ValueError("a feedback rule keeps its message weight in the last hidden channel: --hidden-size >= 1")
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    data = load_task(a.task, data_root=a.data_root)
    n_in, n_out = data.x_train.shape[1], data.num_classes
    x_tr, y_tr, x_val, y_val = split_train(data.x_train, data.y_train, a.val, torch.Generator().manual_seed(a.seed))
    evals = {"val": (x_val, y_val), "test": (data.x_test, data.y_test)}
    fit_archs = [tuple(int(v) for v in s.split(",")) for s in (a.fit_arch or [f"{n_in},10,10,{n_out}",
                                                                               f"{n_in},30,30,{n_out}"])]
    extra = [tuple(int(v) for v in s.split(",")) for s in (a.arch or [f"{n_in},100,100,{n_out}"])]
    if len(fit_archs) > 4:
        raise ValueError(f"at most 4 fitting architectures (the fitted rule's budget), got {len(fit_archs)}")

    def batch_of(archs):
        return batch([graphnca.WeightGraph.from_sizes(s, activation=a.activation)
                      for s in archs for _ in range(a.nets)])

    def teach(x, f):
        return teacher_delta(x, f, a.lr, a.step_size, a.sign_scale, a.sign_gain, a.weight_decay)

    eval_at = sorted({int(v) for v in a.steps.split(",")})
    multiple = None
    if a.step_schedule is not None:
        sched = StepSchedule.parse(a.step_schedule)
        if sched.steps < max(eval_at):
            raise ValueError(f"--step-schedule {sched} grows {sched.steps} steps, fewer than --steps {max(eval_at)}")
        multiple = [k for k, n in sched.segments for _ in range(n)]
    out, fits, students = Path(a.out), [], {}
    name = a.name or f"credit_fit_{a.task}"
    if not a.teacher_only:
        conv, fits = fit_rule(a, (x_tr, y_tr), batch_of(fit_archs), teach, gen)
        students["student"] = conv.rule
        save_fitted(out / f"{name}.pt", conv, a, INIT, fit_archs, a.data_root,
                    teacher="the sign-symmetry local learner (graphnca.baselines), written as a feedback rule in "
                            "benchmarks/credit_fit.py")
    results = []
    for arch in tqdm(list(dict.fromkeys(fit_archs + extra)), desc="grow"):
        g = batch_of([arch])
        steps = {"teacher": lambda p, f, x: teach(x, f)}
        steps.update({k: (lambda p, f, x, r=r: r(p)) for k, r in students.items()})
        for who, step in steps.items():
            ev = torch.Generator().manual_seed(a.seed + 1)      # the same nets and batches for every learner
            stream = DataStream(x_tr, y_tr, a.batch, ev)
            x0 = init_state(g, a.hidden_size, INIT, ev).pack()
            acc, _ = grow(g, step, x0, stream, max(eval_at), set(eval_at), evals, a.neighbourhood, multiple=multiple)
            results.append({"arch": ",".join(map(str, arch)), "who": who, "fitted": arch in fit_archs,
                            **{f"acc@{t}": acc[f"test@{t}"] for t in eval_at},
                            **{f"val@{t}": acc[f"val@{t}"] for t in eval_at}})
    print(table(results, ["arch", "who", "fitted"] + [f"{k}@{t}" for t in eval_at for k in ("val", "acc")]))
    report(out, name, {"config": vars(a), "task": data.name, "steps": eval_at, "fits": fits, "rows": results}, plot)


if __name__ == "__main__":
    main()
