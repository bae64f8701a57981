"""``graphnca heatmap``: accuracy of grown ``[in, X, Y, out]`` networks over a grid (the abstract's Figure 2),
optionally beside Adam trained on the same cells and data; with ``third=Z`` the grid of ``[in, X, Y, Z, out]``
networks, a depth a rule meta-trained on two hidden layers never saw."""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..convert import to_sequential
from ..graph import WeightGraph
from ..grow import accuracy, grow_scheduled, growth_scale
from ..runinfo import resolve_device
from .common import (check_step_scales, finish, generator, growth_stream, load_rule, scheduled_steps,
                     task_data)


def train_adam(arch, data, epochs: int | None, seed: int, batch: int = 128, lr: float = 1e-3,
               activation: str = "relu", max_batches: int | None = None) -> float:
    """Test accuracy of one ``arch`` MLP trained with Adam from PyTorch's default init (for ``epochs``, or
    ``max_batches`` mini-batches if that comes first; ``epochs=None``: exactly ``max_batches``, reshuffling the
    training set each time it runs out)."""
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
    with torch.no_grad():
        return (model(data.x_test).argmax(1) == data.y_test).float().mean().item()


def heatmap(rule, hidden, out, samples: int = 100, steps=None, baseline: str = "none", epochs: int = 1,
            data_root=None, seed: int = 0, progress: bool = True, device: str = "cpu",
            third: int | None = None, step_scale: float = 1.0, hidden_step_scale: float | None = None,
            hidden_state_scale: float | None = None, step_schedule: str | None = None) -> dict:
    """Grow ``samples`` networks per cell on ``device`` (initial states and batches drawn on the CPU, as in
    :func:`~graphnca.experiments.export.grow_command`); the Adam baseline trains on the CPU. ``third``: a third
    hidden layer of that many units in every cell. ``step_scale``, ``hidden_step_scale``, ``hidden_state_scale``:
    the rule's step multipliers, as in :func:`~graphnca.experiments.export.grow_command`, for every cell;
    ``step_schedule`` (``"1x2000,0.3x1000"``) multiplies them segment by segment (``steps``, if given, must match
    its total)."""
    if third is not None and third < 1:
        raise ValueError(f"third hidden layer must have >= 1 unit, got {third}")
    check_step_scales(step_scale, hidden_state_scale)
    scaled = (step_scale, hidden_step_scale, hidden_state_scale) != (1.0, None, None)
    conv, cfg = load_rule(rule)
    device = resolve_device(device)
    conv = conv.to(device)
    data = task_data(cfg, data_root=data_root)
    on = data.to(device)
    schedule = scheduled_steps(cfg, steps, step_schedule)
    steps = schedule.steps
    init = cfg.init
    n_in, n_out = data.num_features, data.num_classes
    hidden = list(hidden)
    grown_mean = [[0.0] * len(hidden) for _ in hidden]
    grown_min = [[0.0] * len(hidden) for _ in hidden]
    adam = [[None] * len(hidden) for _ in hidden] if baseline == "adam" else None
    cells = [(i, j) for i in range(len(hidden)) for j in range(len(hidden))]
    t0 = time.perf_counter()
    gen = generator(seed)
    for i, j in tqdm(cells, disable=not progress, desc="heatmap"):
        arch = (n_in, hidden[i], hidden[j], *([] if third is None else [third]), n_out)
        graph = cfg.task.graph(arch).to(device)
        scale = (growth_scale(graph, conv.hidden_size, step_scale, hidden_step_scale, hidden_state_scale)
                 if scaled else None)               # None: the rule's own step (what every earlier grid used)
        big, state = grow_scheduled(conv, graph, samples, schedule, init, gen,
                                    data=growth_stream(conv, cfg, on, gen), scale=scale)
        acc = accuracy(big, state.w, on.x_test, on.y_test)
        grown_mean[i][j], grown_min[i][j] = acc.mean().item(), acc.min().item()
        if adam is not None:
            adam[i][j] = train_adam(arch, data, epochs, seed + i * len(hidden) + j, activation=cfg.task.activation)
    flat = [v for row in grown_mean for v in row]
    summary = {"grown_mean": sum(flat) / len(flat), "grown_min_cell": min(flat),
               "grown_min_network": min(v for row in grown_min for v in row), "cells": len(flat)}
    if adam is not None:
        aflat = [v for row in adam for v in row]
        summary |= {"adam_epochs": epochs, "adam_mean": sum(aflat) / len(aflat), "adam_min_cell": min(aflat),
                    "cells_grown_ge_adam": sum(g >= a for g, a in zip(flat, aflat))}
    hidden_step_scale = step_scale if hidden_step_scale is None else hidden_step_scale     # recorded as `grow` does
    record = {"rule": str(rule), "task": data.name, "hidden": hidden, "third": third, "samples": samples,
              "steps": steps, "step_schedule": None if step_schedule is None else str(schedule), "seed": seed,
              "step_scale": step_scale, "hidden_step_scale": hidden_step_scale,
              "hidden_state_scale": hidden_step_scale if hidden_state_scale is None else hidden_state_scale,
              "train_archs": [list(a) for a in cfg.task.archs],
              "grown_mean": grown_mean, "grown_min": grown_min, "adam": adam, "summary": summary,
              "wall_s": time.perf_counter() - t0}
    return finish(out, "heatmap", record, plot_heatmap, device)["summary"]


def plot_heatmap(d: dict, plt):
    panels = [("grown (mean of %d)" % d["samples"], d["grown_mean"])]
    if d.get("adam"):
        panels.append((f"Adam, {d['summary']['adam_epochs']} epoch(s)", d["adam"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.8 * len(panels), 4.6), squeeze=False,
                             layout="constrained")
    h, third = d["hidden"], d.get("third")
    name = d["task"] + ("" if third is None else f" [in, X, Y, {third}, out]")
    vmin = min(min(min(r) for r in grid) for _, grid in panels)
    for ax, (title, grid) in zip(axes[0], panels):
        im = ax.imshow(grid, origin="lower", vmin=vmin, vmax=1.0, cmap="viridis")
        for i in range(len(h)):
            for j in range(len(h)):
                ax.text(j, i, f"{grid[i][j]:.2f}", ha="center", va="center", fontsize=6, color="w")
        for a in d["train_archs"]:     # outlined where they sit on the grid's axes, between cells if need be
            if len(a) == (4 if third is None else 5) and a[3:-1] in ([], [third]) and \
                    h[0] <= min(a[1:3]) and max(a[1:3]) <= h[-1]:
                i, j = np.interp(a[1], h, range(len(h))), np.interp(a[2], h, range(len(h)))
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
        trained = ", ".join("-".join(map(str, a)) for a in d["train_archs"])
        ax.text(0, -0.16, f"meta-trained on (red): {trained}", transform=ax.transAxes, fontsize=6)
        ax.set(xticks=range(len(h)), xticklabels=h, yticks=range(len(h)), yticklabels=h,
               xlabel="second hidden layer Y", ylabel="first hidden layer X", title=f"{name}: {title}")
        fig.colorbar(im, ax=ax, fraction=0.046)
    return fig
