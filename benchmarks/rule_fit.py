"""Rule fit: can the local rule represent a local learner that learns hidden layers? Teacher forcing, then growth.

Usage: ``python benchmarks/rule_fit.py [--task xor] [--fit-arch 8,16,2 --fit-arch 8,32,2 ...] [--arch 8,64,2 ...]
[--widths 128,128] [--interaction 32] [--dagger 1] [--balanced] [--dilate K] [--out DIR]``; evaluation only:
``--rule CKPT [--rule ...]``.

Meta-training a ``condition="moments"`` rule from scratch finds no hidden-layer learning (RESULTS.md)
although a hand-written local learner on the same features does. This script separates "cannot represent" from
"cannot find". The teacher is ``benchmarks/local_credit.py``'s ``moments`` learner with ``--timing delayed``,
rewritten as a per-weight state machine that reads only what a rule reads — the weight, its hidden state
``h = [c, m, cov, mu]``, the mean state of its forward neighbours (``neighbourhood="consecutive"``: the weights
leaving its target) and its thirteen features ``f``:

* ``w += -lr * (f_ehebb + k mean_f(c) * cov * g + k mean_f(m) * mu)``: the exact gradient at an output weight (its
  error-Hebbian term; the means are 0 there); at a hidden weight the regressed credit of its target times its own
  Hebbian covariance and source mean *of the previous step*, the batch the credit came from.
* ``h <- [w (f_sae - f_se f_mu_i),  w f_se,  f_hebb - f_mu_j f_mu_i,  f_mu_i]``: an output weight's share of its
  source neuron's credit (0 at hidden weights: their error moments are 0), and the weight's own statistics for the
  next step. ``k`` (``--hidden-gain``, default 4) stands for the learner's sum over a neuron's outgoing weights,
  which the rule sees as a mean; ``g = 1`` by default, ``--normalize EPS`` adds a fifth channel
  ``1 / (f_sd_j^2 + EPS)``, the learner's division by the target's variance. With ``k`` = the number of outputs and
  a tiny ``EPS`` the teacher's update is the learner's exactly (tested).
* Deeper networks: a weight between two hidden layers passes its target's credit on as the output weights pass the
  error, ``c = w (alpha (f_saa - f_sa f_mu_i) + beta (f_sa_i - f_s_i f_mu_i))``, ``m = w (alpha f_sa + beta f_s_i)``
  with ``alpha = k mean_f(c) g``, ``beta = k mean_f(m) - alpha f_mu_j`` (the target's credit ``alpha a_j + beta``,
  as the ``moments`` learner forms it); first-layer weights pass nothing (their sources are inputs). Credit moves
  one layer per step, each layer forming it from the next layer's credit of the previous step and its own batch
  (``local_credit.py --timing mixed``); on a fixed batch and fixed weights the teacher's update settles on the
  learner's exactly (tested).

The student is a :class:`~graphnca.LocalRule` fitted by plain regression (teacher forcing) to the teacher's one-step
map ``(perception, features) -> (dw, dh)`` on states from the teacher's own trajectories, each channel's error
scaled by its spread; ``--dagger N`` adds ``N`` rounds of states from the student's own trajectories, labelled by
the teacher. On MNIST that fit fails (the student's networks collapse): its inputs span seven orders of magnitude,
the output weights' large updates drown the hidden weights' small ones in the error, and a column the teacher holds
at 0 (the mean ``cov`` of the weights leaving a hidden neuron: softmax outputs sum to 1) gets weights no row
constrains, which the student's own drift then reads. ``--balanced`` fits in inputs scaled per column, cuts those
columns, and scales the error per channel within hidden and within output weights (:func:`balance`). Such a fit
meets states off its rows on a new dataset (Fashion-MNIST's darker background and more ink); ``--dilate K`` adds
trajectories on the same task's images with thickened strokes (:func:`dilated`) to every round.
Then the student grows fresh networks on its own, and the teacher, the student and the readout alone
(``dw = -lr f_ehebb``, hidden weights fixed) are compared on the fitting architectures and unseen ones, from the
same networks and batches. The fitted rule is written as a checkpoint that ``graphnca grow`` and ``graphnca train
--init-from`` take. ``--rule CKPT`` (repeatable) fits nothing: it compares those rules (say, the fit and the fit
after meta-training) with the teacher and the readout, on any task and architecture.
"""
from __future__ import annotations

import argparse
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from _util import report, table
from local_credit import EHEBB, HEBB, MU_I, MU_J, S_I, SA, SA_I, SAA, SAE, SE

import graphnca
from graphnca.checkpoint import save_checkpoint
from graphnca.conditioning import DataStream, data_features
from graphnca.data import load_task
from graphnca.experiments.common import load_rule
from graphnca.graph import batch
from graphnca.grow import accuracy
from graphnca.perception import neuron_means, perceive_hub
from graphnca.state import InitConfig, init_state
from graphnca.config import Config, TaskConfig

SD_J = 3   # feature column of the target's standard deviation (graphnca.conditioning)
INIT = InitConfig(weight_init="kaiming", weight_scale=1.0, hidden_init="zeros")


def teacher_delta(graph, x, feats, lr: float, gain: float = 1.0, eps: float = 0.0, readout: bool = False):
    """``[E, 1 + H]``: the teacher's update of states ``x = [w, c, m, cov, mu(, ivar)]`` (module docstring)."""
    w, h, f = x[:, 0], x[:, 1:], feats
    fwd = neuron_means(graph, x, "consecutive")[0][graph.dst] * gain    # [E, 1 + H]: the target's leaving weights
    ivar = h[:, 4] if eps else 1.0                                      # the previous step's 1 / (var_j + eps)
    dw = f[:, EHEBB] if readout else f[:, EHEBB] + fwd[:, 1] * h[:, 2] * ivar + fwd[:, 2] * h[:, 3]
    c, m = w * (f[:, SAE] - f[:, SE] * f[:, MU_I]), w * f[:, SE]       # output weights: the source's error share
    mid = graph.hidden_w & (graph.layer > 0)          # between hidden layers: pass the target's credit on
    if mid.any():                                     # the target's credit a (a_j - mu_j) + b, a step old
        alpha = fwd[:, 1] * ivar
        beta = fwd[:, 2] - alpha * f[:, MU_J]
        cov = alpha * (f[:, SAA] - f[:, SA] * f[:, MU_I]) + beta * (f[:, SA_I] - f[:, S_I] * f[:, MU_I])
        c = torch.where(mid, w * cov, c)
        m = torch.where(mid, w * (alpha * f[:, SA] + beta * f[:, S_I]), m)
    new = [c, m, f[:, HEBB] - f[:, MU_J] * f[:, MU_I], f[:, MU_I]]
    if eps:
        new.append(1.0 / (f[:, SD_J].square() + eps))
    return torch.cat([-lr * dw[:, None], torch.stack(new, 1) - h], dim=1)


def fresh(graph, hidden: int, gen):
    """``[E, 1 + H]`` fresh states: Kaiming weights at full scale (as ``local_credit.py``), hidden states 0."""
    return init_state(graph, hidden, INIT, gen).pack()


@torch.no_grad()
def grow(graph, step, x, stream, steps: int, eval_at, data, keep=None):
    """Run ``step(x, feats) -> delta`` for ``steps`` updates; test accuracy at ``eval_at``; with ``keep`` (a set of
    steps) also return the ``(x, feats)`` seen at those steps."""
    acc, seen = {}, []
    for t in range(1, steps + 1):
        feats = data_features(graph, x[:, 0], *stream(), condition="moments")   # [E, 13]
        if keep is not None and t in keep:
            seen.append((x.clone(), feats))
        x = x + step(x, feats)
        if t in eval_at:
            acc[t] = accuracy(graph, x[:, 0], data.x_test, data.y_test).mean().item()
    return acc, seen


def rows(graph, seen, teach):
    """Regression rows: inputs ``[n, 3(1+H) + 13]`` as the rule sees them, targets ``[n, 1 + H]``, and ``[n]``
    which rows are hidden weights."""
    xs = [torch.cat([perceive_hub(graph, x, "consecutive"), f], 1) for x, f in seen]
    ys = [teach(x, f) for x, f in seen]
    return torch.cat(xs), torch.cat(ys), graph.hidden_w.repeat(len(seen))


@contextmanager
def rescaled(first: torch.nn.Linear, spread):
    """Reparametrise ``first`` to take ``p / spread`` while inside, then fold back to raw inputs — the same
    function throughout, but Adam steps in scaled coordinates (MNIST's columns span seven orders of magnitude)."""
    with torch.no_grad():
        first.weight *= spread
    try:
        yield
    finally:
        with torch.no_grad():
            first.weight /= spread


def fit(rule, X, Y, scale, epochs: int, lr: float, bs: int, gen, spread=None):
    """Adam on the squared error, scaled by ``scale`` (``[1 + H]`` per channel, or ``[n, 1 + H]`` per row);
    returns the squared errors ``[n, 1 + H]`` and ``1 - R^2`` per channel. With ``spread`` the rule is fitted on
    ``X / spread`` (:func:`rescaled`)."""
    if spread is not None:
        with rescaled(rule.first, spread):
            _adam(rule, X / spread, Y, scale, epochs, lr, bs, gen)
    else:
        _adam(rule, X, Y, scale, epochs, lr, bs, gen)
    with torch.no_grad():
        err = torch.cat([(rule(X[i]) - Y[i]) for i in torch.arange(len(X)).split(65536)]).square()   # [n, 1 + H]
    return err, (err.mean(0) / Y.var(0).clamp_min(1e-16)).tolist()        # 1 - R^2 per channel


def _adam(rule, X, Y, scale, epochs: int, lr: float, bs: int, gen):
    opt = torch.optim.Adam(rule.parameters(), lr=lr)
    n = len(X)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * ((n + bs - 1) // bs))
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=gen).split(bs):
            s = scale[idx] if scale.dim() == 2 else scale
            loss = ((rule(X[idx]) - Y[idx]) / s).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()


def group_rel_err(err, Y, hid):
    """``1 - R^2`` per channel within hidden and within output weights (``None`` where the teacher's target is
    constant there, as ``c, m`` at hidden weights)."""
    out = {}
    for name, m in (("hidden", hid), ("output", ~hid)):
        var = Y[m].var(0)
        out[name] = [None if v <= 0 else e / v for e, v in zip(err[m].mean(0).tolist(), var.tolist())]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    fit_flags(ap, task="xor", nets=8, fit_steps=3000, fit_samples=60, widths="128,128", interaction=32,
              step_size=2.0, epochs=30, steps="40,200,1000,3000")
    ap.add_argument("--hidden-gain", type=float, default=4.0,
                    help="multiplies the credit a hidden weight reads (a mean, not the learner's sum, over outputs)")
    ap.add_argument("--normalize", type=float, default=0.0, help="EPS > 0: divide credit by var + EPS")
    ap.add_argument("--balanced", action="store_true",
                    help="inputs scaled per column, dead columns cut, errors scaled per channel within hidden and "
                         "within output weights (see balance())")
    ap.add_argument("--dilate", type=int, action="append", default=None,
                    help="K: also fit on trajectories on the images thickened by a K x K max filter (repeatable)")
    ap.add_argument("--rule", action="append", default=None,
                    help="evaluate these checkpoints beside the teacher instead of fitting (repeatable)")
    ap.add_argument("--name", default=None, help="output name (default rule_fit_TASK, or rule_eval_TASK)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    data = load_task(a.task, data_root=a.data_root)
    fit_archs = [tuple(int(v) for v in s.split(",")) for s in (a.fit_arch or ["8,16,2", "8,32,2"])]
    extra = [tuple(int(v) for v in s.split(",")) for s in (a.arch or ["8,64,2"])]
    if any(len(s) < 3 for s in fit_archs + extra):
        raise ValueError("the teacher learns hidden layers: architectures need at least one (in,hidden,...,out)")
    hidden = 4 + (a.normalize > 0)

    def batch_of(archs):
        return batch([graphnca.WeightGraph.from_sizes(s, activation=a.activation)
                      for s in archs for _ in range(a.nets)])

    def teach(x, f, g, readout=False):
        return teacher_delta(g, x, f, a.lr, a.hidden_gain, a.normalize, readout)

    out, fits = Path(a.out), []
    if a.rule:                                      # evaluation only: the teacher beside trained or fitted rules
        students = {}
        for path in a.rule:
            conv, cfg = load_rule(path)
            if conv.hidden_size != hidden or conv.condition != "moments" or conv.neighbourhood != "consecutive":
                raise ValueError(f"{path}: a rule_fit rule needs hidden size {hidden}, condition 'moments' and "
                                 f"neighbourhood 'consecutive', got {conv.hidden_size}, {conv.condition!r}, "
                                 f"{conv.neighbourhood!r}")
            students[Path(path).parent.name if Path(path).stem == "checkpoint" else Path(path).stem] = conv.eval()
            # the rule's training architectures are grown (and marked) too when the task is the same
            fit_archs = [tuple(s) for s in cfg.task.archs] if cfg.task.task == a.task else []
        name = a.name or f"rule_eval_{a.task}"
    else:
        conv, fits = fit_rule(a, data, batch_of(fit_archs), teach, hidden, gen)
        students = {"student": conv}
        name = a.name or f"rule_fit_{a.task}" + (f"_norm{a.normalize:g}" if a.normalize else "")
        save_fitted(out / f"{name}.pt", conv, a, INIT, fit_archs)
    eval_at = sorted({int(v) for v in a.steps.split(",")})
    results = []
    for arch in tqdm(list(dict.fromkeys(fit_archs + extra)), desc="grow"):
        g = batch_of([arch])
        steps = {"teacher": lambda x, f: teach(x, f, g), "readout": lambda x, f: teach(x, f, g, readout=True)}
        steps.update({k: (lambda x, f, c=c: c(x, graph=g, features=f) - x) for k, c in students.items()})
        for who, step in steps.items():
            ev = torch.Generator().manual_seed(a.seed + 1)      # the same nets and batches for every learner
            stream = DataStream(data.x_train, data.y_train, a.batch, ev)
            acc, _ = grow(g, step, fresh(g, hidden, ev), stream, max(eval_at), set(eval_at), data)
            results.append({"arch": ",".join(map(str, arch)), "who": who, "fitted": arch in fit_archs,
                            **{f"acc@{t}": acc[t] for t in eval_at}})
    print(table(results, ["arch", "who", "fitted"] + [f"acc@{t}" for t in eval_at]))
    report(out, name, {"config": vars(a), "task": data.name, "steps": eval_at, "fits": fits, "rows": results}, plot)


def fit_flags(ap, task: str, nets: int, fit_steps: int, fit_samples: int, widths: str, interaction: int,
              step_size: float, epochs: int, steps: str) -> None:
    """The flags every teacher-forcing script shares (this one and ``credit_fit.py``), with its own defaults."""
    ap.add_argument("--task", default=task)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--fit-arch", action="append", default=None, help="architectures the rule is fitted on")
    ap.add_argument("--arch", action="append", default=None, help="extra (unseen) architectures to grow")
    ap.add_argument("--activation", default="tanh")
    ap.add_argument("--nets", type=int, default=nets, help="networks per architecture (fitting and evaluation)")
    ap.add_argument("--batch", type=int, default=64, help="examples per growth step")
    ap.add_argument("--lr", type=float, default=0.3, help="the teacher's learning rate")
    ap.add_argument("--fit-steps", type=int, default=fit_steps, help="teacher trajectory length for fitting rows")
    ap.add_argument("--fit-samples", type=int, default=fit_samples, help="trajectory steps kept as rows, per round")
    ap.add_argument("--dagger", type=int, default=1, help="rounds of rows from the student's own trajectories")
    ap.add_argument("--widths", default=widths)
    ap.add_argument("--interaction", type=int, default=interaction)
    ap.add_argument("--step-size", type=float, default=step_size)
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--fit-lr", type=float, default=3e-3)
    ap.add_argument("--fit-batch", type=int, default=4096)
    ap.add_argument("--steps", default=steps, help="growth steps at which to evaluate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results")


def save_fitted(path: Path, conv, a, init: InitConfig, fit_archs, data_root=None,
                teacher: str = "the moments learner with delayed timing (benchmarks/rule_fit.py)") -> None:
    """Write a fitted rule as a rule-only checkpoint ``graphnca grow`` / ``train --init-from`` take (``a``: the
    script's flags — task, activation, step size, interaction, growth batch), saying it is a distilled baseline
    of ``teacher``, not a meta-trained rule."""
    rule = replace(graphnca.RuleConfig(), hidden_size=conv.hidden_size, widths=conv.rule.widths,
                   step_size=a.step_size, fire_rate=1.0, neighbourhood=conv.neighbourhood, condition=conv.condition,
                   deadzone=0.0, interaction=a.interaction)
    cfg = Config(rule=rule, init=init, task=TaskConfig(task=a.task, archs=tuple(fit_archs), activation=a.activation,
                                                       data_root=data_root, grow_batch=a.batch))
    settings = {k: v for k, v in vars(a).items() if k not in ("out", "data_root", "threads")}
    provenance = {"made_by": "distilled", "teacher": teacher, "fit": "teacher forcing (regression onto the "
                  "teacher's updates)", "settings": settings, "note": "not meta-trained: the train config is unused"}
    save_checkpoint(path, {"config": cfg.to_dict(), "rule": conv.state_dict(), "step": 0, "history": [],
                           "rule_only": True, "provenance": provenance})


def fit_rule(a, data, g_fit, teach, hidden: int, gen):
    """A rule fitted to the teacher by regression on rows from the teacher's (then its own) trajectories."""
    rule = graphnca.LocalRule(hidden, tuple(int(v) for v in a.widths.split(",")), a.step_size, 13, 0.0,
                              a.interaction)
    conv = graphnca.MetaNCAConv(rule=rule, fire_rate=1.0, neighbourhood="consecutive", condition="moments").eval()
    keep = set(torch.randperm(a.fit_steps, generator=gen)[:a.fit_samples].add(1).tolist())
    sets = [data] + [dilated(data, k) for k in a.dilate or []]
    fits, X, Y, hid, dropped, t0 = [], None, None, None, 0, time.time()
    for rnd in range(1 + a.dagger):                 # round 0: teacher trajectories; then the student's own
        step = (lambda x, f: teach(x, f, g_fit)) if rnd == 0 else (lambda x, f: conv(x, graph=g_fit, features=f) - x)
        accs, parts = {}, []
        for d in sets:                              # one trajectory per training set, rows pooled
            stream = DataStream(d.x_train, d.y_train, a.batch, gen)
            # its own end accuracy: the teacher's in round 0, then the student's before this round's fit
            acc, seen = grow(g_fit, step, fresh(g_fit, hidden, gen), stream, a.fit_steps, {a.fit_steps}, d, keep)
            accs[d.name] = acc[a.fit_steps]
            parts.append(rows(g_fit, seen, lambda x, f: teach(x, f, g_fit)))
        Xr, Yr, hr = (torch.cat(p) for p in zip(*parts))
        if X is None:                               # the teacher's rows set the scales and the trusted range
            X, Y, hid, bound = Xr, Yr, hr, 4 * Xr.abs().amax(0).clamp_min(0.25)
            sy = Y.std(0).clamp_min(1e-8)
            scale, spread, cut = balance(rule, X, Y, hid) if a.balanced else ((lambda h: sy), None, None)
        else:                                       # a student that ran away gives rows far outside it: dropped
            ok = ((Xr.abs() <= bound).all(1) & torch.isfinite(Yr).all(1))
            X, Y, hid = torch.cat([X, Xr[ok]]), torch.cat([Y, Yr[ok]]), torch.cat([hid, hr[ok]])
            dropped = int((~ok).sum())
        if cut is not None:
            X[:, cut] = 0.0                         # their weights are 0: what the student's drift puts there is moot
        sq, err = fit(rule, X, Y, scale(hid), a.epochs, a.fit_lr, a.fit_batch, gen, spread)
        fits.append({"round": rnd, "rows": len(X), "rel_err": err, **group_rel_err(sq, Y, hid),
                     "trajectory_acc": accs[data.name], "trajectory_accs": accs, "dropped": dropped,
                     "seconds": time.time() - t0})
        print(f"round {rnd}: trajectory accuracy " + ", ".join(f"{k} {v:.3f}" for k, v in accs.items())
              + f"; {len(X)} rows, 1 - R^2 per channel (w, c, m, cov, mu...): " + ", ".join(f"{e:.3g}" for e in err))
    return conv, fits


def dilated(data, k: int):
    """``--dilate K``: the task's images with strokes thickened by a ``K x K`` max filter, standardised again with
    their own statistics — other pixel statistics (more ink, a darker background) from the same task. K = 5 on MNIST
    puts the background at -0.82 and 44 % of pixels above it (Fashion-MNIST: -0.81 and 50 %; MNIST: -0.42, 19 %)."""
    if data.input_shape is None or k < 3 or k % 2 == 0:
        raise ValueError(f"--dilate needs an image task and an odd K >= 3, got {data.name!r} and K = {k}")

    def thick(x):                                   # a max filter commutes with the standardisation's affine map
        return torch.nn.functional.max_pool2d(x.view(-1, 1, *data.input_shape), k, 1, k // 2).flatten(1)

    tr, te = thick(data.x_train), thick(data.x_test)
    m, s = tr.mean(), tr.std()
    return replace(data, name=f"{data.name}-dilated{k}", x_train=(tr - m) / s, x_test=(te - m) / s)


def balance(rule, X, Y, hid):
    """``--balanced``, from the teacher's rows: inputs scaled by each column's largest magnitude, columns the teacher
    never moves off 0 cut (their first-layer weights zeroed: Adam never moves them, as their inputs stay 0), and a
    per-row error scale — each channel's spread within hidden weights for hidden rows, within output weights for
    output rows (falling back to the other where the teacher's target is constant, as ``c, m`` at hidden weights).
    Returns ``(scale(hid) -> [n, 1 + H], spread [D], cut [D])``."""
    spread = X.abs().amax(0)
    cut = spread < 1e-6
    with torch.no_grad():
        rule.first.weight[:, cut] = 0.0
    sh, so = Y[hid].std(0), Y[~hid].std(0)
    sh, so = torch.where(sh > 0, sh, so).clamp_min(1e-8), torch.where(so > 0, so, sh).clamp_min(1e-8)
    return (lambda h: torch.where(h[:, None], sh, so)), torch.where(cut, 1.0, spread), cut


def plot(d, plt):
    archs = list(dict.fromkeys(r["arch"] for r in d["rows"]))
    fig, axes = plt.subplots(1, len(archs), figsize=(3.4 * len(archs), 3.4), sharey=True, squeeze=False)
    for ax, arch in zip(axes[0], archs):
        for r in (r for r in d["rows"] if r["arch"] == arch):
            ax.plot(d["steps"], [r[f"acc@{t}"] for t in d["steps"]], "o-", label=r["who"])
        ax.set(xscale="log", xlabel="growth steps", title=f"{arch}" + ("" if r["fitted"] else " (unseen)"))
        ax.set_xticks(d["steps"], [str(t) for t in d["steps"]], minor=False)    # log minor labels collide
        ax.set_xticks([], minor=True)
    axes[0][0].set_ylabel("test accuracy")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{d['task']}: rules vs the teacher they were fitted to", fontsize=10)
    return fig


if __name__ == "__main__":
    main()
