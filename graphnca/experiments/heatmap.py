"""``graphnca heatmap``: accuracy of grown ``[in, X, Y, out]`` networks over a grid (the abstract's Figure 2),
optionally beside Adam trained on the same cells and data; with ``third=Z`` the grid of ``[in, X, Y, Z, out]``
networks, a depth a rule meta-trained on two hidden layers never saw."""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from ..convert import to_sequential
from ..data import TaskData
from ..graph import WeightGraph
from ..grow import accuracy, grow_scheduled, growth_scale
from ..runinfo import resolve_device
from .common import (Progress, check_step_scales, finish, generator, growth_stream, load_rule,
                     rule_provenance, scheduled_steps, scoring_data, task_data)


def train_adam(arch, data, epochs: int | None, seed: int, batch: int = 128, lr: float = 1e-3,
               activation: str = "relu", max_batches: int | None = None, on_batch=None) -> float:
    """Test accuracy of one ``arch`` MLP trained with Adam from PyTorch's default init (for ``epochs``, or
    ``max_batches`` mini-batches if that comes first; ``epochs=None``: exactly ``max_batches``, reshuffling the
    training set each time it runs out). ``on_batch(batches, model)`` runs after every update; returning True
    stops training (a timing harness evaluates there)."""
    if epochs is None:
        if max_batches is None:
            raise ValueError("train_adam needs epochs or max_batches")
        epochs = -(-max_batches * batch // len(data.x_train))      # ceil: enough passes for max_batches
    torch.manual_seed(seed)
    graph = WeightGraph.from_sizes(arch, activation=activation)
    layers = [nn.Linear(a, b) for a, b in zip(arch[:-1], arch[1:])]
    model = to_sequential(graph, torch.cat([t for l in layers for t in (l.weight.flatten(), l.bias)]).detach())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g, seen = generator(seed), 0
    for _ in range(epochs):
        perm = torch.randperm(len(data.x_train), generator=g)
        for i in range(0, len(perm), batch):
            if max_batches is not None and seen >= max_batches:
                break
            seen += 1
            idx = perm[i:i + batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
            opt.step()
            if on_batch is not None and on_batch(seen, model):
                return test_accuracy(model, data)
    return test_accuracy(model, data)


@torch.no_grad()
def test_accuracy(model, data) -> float:
    return (model(data.x_test).argmax(1) == data.y_test).float().mean().item()


def tuned_adam(arch, data, lrs, epochs: int, seeds: int, activation: str) -> dict:
    """Adam's learning rate chosen from ``lrs`` on a validation split (the last 5,000 training examples, never
    trained on), then that choice's test accuracies over ``seeds`` runs."""
    x, y = data.x_train[:-5000], data.y_train[:-5000]
    on_val = TaskData(data.name, x, y, data.x_train[-5000:], data.y_train[-5000:], data.num_classes)
    on_test = TaskData(data.name, x, y, data.x_test, data.y_test, data.num_classes)
    val = {lr: sum(train_adam(arch, on_val, epochs, s, lr=lr, activation=activation) for s in range(seeds)) / seeds
           for lr in lrs}
    best = max(val, key=val.get)
    test = [train_adam(arch, on_test, epochs, s, lr=best, activation=activation) for s in range(seeds)]
    return {"lr": best, "val_by_lr": {str(k): v for k, v in val.items()}, "test": test,
            "examples_seen": epochs * len(x), "batch": 128}


def heatmap(rule, hidden, out, samples: int = 100, steps=None, baseline: str = "none", epochs: int = 1,
            data_root=None, seed: int = 0, progress: bool = True, device: str = "cpu",
            third: int | None = None, step_scale: float = 1.0, hidden_step_scale: float | None = None,
            hidden_state_scale: float | None = None, step_schedule: str | None = None,
            adam_lrs=(1e-3,)) -> dict:
    """Grow ``samples`` networks per cell on ``device`` (initial states and batches drawn on the CPU, as in
    :func:`~graphnca.experiments.export.grow_command`); the Adam baseline trains on the CPU. ``third``: a third
    hidden layer of that many units in every cell. ``step_scale``, ``hidden_step_scale``, ``hidden_state_scale``:
    the rule's step multipliers, as in :func:`~graphnca.experiments.export.grow_command`, for every cell;
    ``step_schedule`` (``"1x2000,0.3x1000"``) multiplies them segment by segment (``steps``, if given, must match
    its total). ``adam_lrs``: one learning rate for the Adam baseline, or several, one chosen per cell on a
    validation split (:func:`tuned_adam`)."""
    if third is not None and third < 1:
        raise ValueError(f"third hidden layer must have >= 1 unit, got {third}")
    check_step_scales(step_scale, hidden_state_scale)
    scaled = (step_scale, hidden_step_scale, hidden_state_scale) != (1.0, None, None)
    conv, cfg = load_rule(rule)
    device = resolve_device(device)
    conv = conv.to(device)
    # a data-free rule scored without an Adam baseline needs the test split alone (offline for MNIST)
    data = (scoring_data(rule, cfg, data_root) if baseline == "none" and conv.rule.extra_inputs == 0
            else task_data(cfg, data_root=data_root))
    on = data.to(device)
    schedule = scheduled_steps(cfg, steps, step_schedule)
    steps = schedule.steps
    init = cfg.init
    n_in, n_out = data.num_features, data.num_classes
    hidden = list(hidden)
    grown_mean = [[0.0] * len(hidden) for _ in hidden]
    grown_min = [[0.0] * len(hidden) for _ in hidden]
    adam = [[None] * len(hidden) for _ in hidden] if baseline == "adam" else None
    adam_lr = [[None] * len(hidden) for _ in hidden] if baseline == "adam" else None
    cells = [(i, j) for i in range(len(hidden)) for j in range(len(hidden))]
    t0 = time.perf_counter()
    gen = generator(seed)
    bar = Progress(progress, len(cells), "heatmap: grid cells")
    for i, j in cells:
        arch = (n_in, hidden[i], hidden[j], *([] if third is None else [third]), n_out)
        graph = cfg.task.graph(arch).to(device)
        scale = (growth_scale(graph, conv.hidden_size, step_scale, hidden_step_scale, hidden_state_scale)
                 if scaled else None)               # None: the rule's own step (what every earlier grid used)
        big, state = grow_scheduled(conv, graph, samples, schedule, init, gen,
                                    data=growth_stream(conv, cfg, on, gen), scale=scale)
        acc = accuracy(big, state.w, on.x_test, on.y_test)
        grown_mean[i][j], grown_min[i][j] = acc.mean().item(), acc.min().item()
        bar.update(1)
        if adam is not None and len(adam_lrs) == 1:
            adam_lr[i][j] = adam_lrs[0]
            adam[i][j] = train_adam(arch, data, epochs, seed + i * len(hidden) + j, lr=adam_lrs[0],
                                    activation=cfg.task.activation)
        elif adam is not None:
            tuned = tuned_adam(arch, data, adam_lrs, epochs, 1, cfg.task.activation)
            adam[i][j], adam_lr[i][j] = tuned["test"][0], tuned["lr"]
    bar.close()
    flat = [v for row in grown_mean for v in row]
    summary = {"grown_mean": sum(flat) / len(flat), "grown_min_cell": min(flat),
               "grown_min_network": min(v for row in grown_min for v in row), "cells": len(flat)}
    if adam is not None:
        aflat = [v for row in adam for v in row]
        summary |= {"adam_epochs": epochs, "adam_mean": sum(aflat) / len(aflat), "adam_min_cell": min(aflat),
                    "cells_grown_ge_adam": sum(g >= a for g, a in zip(flat, aflat))}
    hidden_step_scale = step_scale if hidden_step_scale is None else hidden_step_scale     # recorded as `grow` does
    record = {"rule": str(rule), "rule_file": rule_provenance(rule), "task": data.name, "hidden": hidden,
              "third": third, "samples": samples,
              "steps": steps, "step_schedule": None if step_schedule is None else str(schedule), "seed": seed,
              "step_scale": step_scale, "hidden_step_scale": hidden_step_scale,
              "hidden_state_scale": hidden_step_scale if hidden_state_scale is None else hidden_state_scale,
              "train_archs": [list(a) for a in cfg.task.archs],
              "grown_mean": grown_mean, "grown_min": grown_min, "adam": adam, "adam_lr": adam_lr,
              "adam_lrs": list(adam_lrs), "summary": summary,
              "wall_s": time.perf_counter() - t0}
    return finish(out, "heatmap", record, plot_heatmap, device)["summary"]


def plot_heatmap(d: dict, plt):
    """The source's Figure 2: mean test accuracy per cell, the value written in each cell, the meta-training
    architectures listed beside the grid (a cell is never one of them unless the list says so)."""
    panels = [(f"grown, {d['steps']} steps (mean of {d['samples']})", d["grown_mean"])]
    if d.get("adam"):
        panels.append((f"Adam, {d['summary']['adam_epochs']} epoch(s)", d["adam"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.6), squeeze=False,
                             layout="constrained")
    h, third = d["hidden"], d.get("third")
    shape = f"[{d['task']}: in, X, Y{'' if third is None else f', {third}'}, out]"
    vmin = min(min(min(r) for r in grid) for _, grid in panels)
    cells = {(len(a) == (4 if third is None else 5) and (third is None or a[3] == third) and a[1] in h
              and a[2] in h) and (h.index(a[1]), h.index(a[2])) for a in d["train_archs"]} - {False}
    for ax, (title, grid) in zip(axes[0], panels):
        im = ax.imshow(grid, origin="lower", vmin=vmin, vmax=1.0, cmap="viridis")
        for i in range(len(h)):
            for j in range(len(h)):
                v = grid[i][j]
                ax.text(j, i, f"{v:.2f}" + ("*" if (i, j) in cells else ""), ha="center", va="center",
                        fontsize=7 if len(h) > 6 else 9, color="w" if v < (vmin + 1) / 2 else "k")
        ax.set(xticks=range(len(h)), xticklabels=h, yticks=range(len(h)), yticklabels=h,
               xlabel="second hidden layer Y", ylabel="first hidden layer X", title=f"{shape}\n{title}")
        fig.colorbar(im, ax=ax, fraction=0.046, label="test accuracy")
    trained = ", ".join("-".join(map(str, a)) for a in d["train_archs"])
    where = ("* marks the cells that are meta-training architectures" if cells else
             "every cell is held out")
    fig.suptitle(f"rule {Path(d['rule']).name}: mean {d['summary']['grown_mean']:.3f}", fontsize=10)
    fig.text(0.5, -0.02, f"meta-trained on {trained}; {where}", ha="center", fontsize=8, wrap=True)
    return fig
