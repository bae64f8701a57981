r"""Gradient-alignment hint: a meta-training loss on the direction of the rule's hidden-layer updates.

A meta-training signal, never a growth input. ``benchmarks/grad_alignment.py`` shows that the rule's hidden-layer
updates are close to orthogonal to the task gradient after the first few growth steps, although what a hidden
weight sees could express about half of it, and that meta-training on the task loss alone does not find that
behaviour even on a task where nothing else lowers the loss (``xor``, RESULTS.md). This loss supervises the direction
directly: for each network :math:`b` and growth step :math:`t`, with :math:`\Delta w_t = w_t - w_{t-1}` the
rule's update and :math:`g_t = -\nabla_w \mathcal{L}(w_{t-1})` the negative task gradient on the meta-step's data
batch (autograd on a detached copy: a fixed target, never shown to the rule),

.. math::
    \mathcal{L}_{\text{align}}^{(b)} = \frac{1}{T} \sum_{t=1}^{T}
        \Big(1 - \cos\big(\Delta w_t^{\mathcal{H}_b},\ g_t^{\mathcal{H}_b}\big)\Big),

where :math:`\mathcal{H}_b` are network :math:`b`'s hidden-layer weights and biases (every layer but the
readout). The batch gradient is the credit averaged over many examples: what the per-step mini-batch features
could only approximate by averaging in the rule's hidden state.

Shapes:
    ``w_prev``, ``w_next`` ``[E]`` of a (mixed) batch of ``B`` networks; ``x`` ``[N, in]``, ``y`` ``[N]``;
    returns ``[B]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..forward import task_forward
from ..graph import WeightGraph


def descent_direction(graph: WeightGraph, w: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """``[E]`` negative gradient of every network's mean cross-entropy on ``(x, y)`` at weights ``w`` (detached)."""
    with torch.enable_grad():
        wd = w.detach().requires_grad_(True)
        logits = task_forward(graph, wd, x)                                       # [B, N, C]
        if isinstance(logits, list):
            loss = sum(F.cross_entropy(o, y) for o in logits)
        else:
            per_net = F.cross_entropy(logits.transpose(1, 2), y.expand(logits.shape[0], -1), reduction="none")
            loss = per_net.mean(1).sum()                                          # each network its own mean
        (grad,) = torch.autograd.grad(loss, wd)
    return -grad


def alignment_loss(graph: WeightGraph, w_prev: Tensor, w_next: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """``[B]``: one minus the cosine between each network's hidden-layer update ``w_next - w_prev`` and its negative
    task gradient at ``w_prev`` (module docstring); differentiable in ``w_next`` (and ``w_prev``)."""
    for name, t in (("w_prev", w_prev), ("w_next", w_next)):
        if t.shape != (graph.num_weights,):
            raise ValueError(f"{name} must have shape [{graph.num_weights}], got {list(t.shape)}")
    shallow = [list(a.sizes) for a in graph.archs if a.num_layers < 2]
    if shallow:
        raise ValueError(f"the alignment loss needs a hidden layer; networks {shallow} have none")
    keep = graph.hidden_w.to(w_next.dtype)                                     # [E]
    target = descent_direction(graph, w_prev, x, y) * keep                         # [E], no autograd path
    delta = (w_next - w_prev) * keep                                               # [E]
    B, idx = graph.num_graphs, graph.batch_w

    def per_net(v: Tensor) -> Tensor:
        return v.new_zeros(B).index_add_(0, idx, v)                                # [B]
    dot = per_net(delta * target)
    norms = (per_net(delta * delta) + 1e-12).sqrt() * (per_net(target * target) + 1e-12).sqrt()
    return 1 - dot / norms
