r"""Linear-probe loss: how much a grown network's last hidden layer is worth to the best linear readout.

A meta-training signal, never a growth input. Over a 10–20-step rollout the grown readout has little time to use
better hidden features, so the task loss rewards hidden-layer learning only weakly (``benchmarks/readout_probe.py``:
the hidden layers of a grown MNIST 784-100-100-10 network are worth only ~0.03 more to a refitted readout than the
random ones it started from). This loss scores the features directly: for
each network, with :math:`H^{(1)}, H^{(2)}` the last hidden layer's outputs (plus a constant column) on two halves of
the meta-step's batch and :math:`Y^{(1)}, Y^{(2)}` the one-hot labels,

.. math::
    R = \big(H^{(1)\top} H^{(1)} / n + \lambda I\big)^{-1} H^{(1)\top} Y^{(1)} / n, \qquad
    \mathcal{L}_{\text{probe}} = \tfrac{1}{n C} \big\lVert H^{(2)} R - Y^{(2)} \big\rVert^2 ,

the held-out squared error of a ridge readout fitted in closed form on the other half. It is differentiable in
the hidden weights, so backprop through the rollout reaches the rule's hidden-layer updates.

Shapes:
    ``w`` ``[E]`` of a (mixed) batch of networks; ``x`` ``[N, in]``, ``y`` ``[N]`` with ``N >= 2``; returns ``[B]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..forward import layer_outputs
from ..graph import WeightGraph


def ridge_readout(h: Tensor, targets: Tensor, ridge: float) -> Tensor:
    """Closed-form ridge readout ``[k, d + 1, C]`` of features ``h [k, n, d]`` (a constant column is appended, see
    :func:`with_constant`) onto ``targets [n, C]``; differentiable in ``h``."""
    h = with_constant(h)
    n, d = h.shape[1], h.shape[-1]
    gram = h.transpose(1, 2) @ h / n + ridge * torch.eye(d, dtype=h.dtype, device=h.device)   # [k, d, d]
    return torch.linalg.solve(gram, h.transpose(1, 2) @ targets.to(h.dtype) / n)


def with_constant(h: Tensor) -> Tensor:
    """``[..., n, d + 1]``: features with a constant 1 appended (the readout's bias)."""
    return torch.cat([h, h.new_ones(*h.shape[:-1], 1)], dim=-1)


def probe_loss(graph: WeightGraph, w: Tensor, x: Tensor, y: Tensor, ridge: float) -> Tensor:
    """``[B]`` held-out ridge-readout error of every network's last hidden layer (module docstring)."""
    if not ridge > 0:
        raise ValueError(f"probe ridge must be > 0, got {ridge}")
    if w.shape != (graph.num_weights,):
        raise ValueError(f"w must have shape [{graph.num_weights}], got {list(w.shape)}")
    if x.dim() != 2 or y.shape != (x.shape[0],) or x.shape[0] < 2:
        raise ValueError(f"probe data must be x: [N, in] and y: [N] with N >= 2, got {list(x.shape)}, {list(y.shape)}")
    shallow = [list(a.sizes) for a in graph.archs if a.num_layers < 2]
    if shallow:
        raise ValueError(f"the probe loss needs a hidden layer; networks {shallow} have none")
    n = x.shape[0] // 2
    out = []
    runs, _ = graph.dense_runs
    member = 0
    for w0, _, k, e_a, _, _ in runs:                               # runs: consecutive members of one architecture
        arch = graph.archs[member]
        member += k
        h = layer_outputs(arch, w[w0:w0 + k * e_a].view(k, e_a), x)[-2]   # [k, N, hidden]: the last hidden layer
        t = F.one_hot(y, arch.sizes[-1])                           # [N, C]
        readout = ridge_readout(h[:, :n], t[:n], ridge)            # [k, hidden + 1, C], fitted on the first half
        pred = with_constant(h[:, n:2 * n]) @ readout              # [k, n, C], scored on the second half
        out.append((pred - t[n:2 * n]).pow(2).mean((1, 2)))
    return torch.cat(out)
