"""Reference learners on weight graphs: backprop, sign symmetry, feedback alignment (see the package docstring)."""
from __future__ import annotations

import torch
from torch import Tensor

from ..conditioning import DataStream, backward_credit
from ..forward import layer_outputs, task_forward
from ..graph import Arch, WeightGraph, repeat
from ..state import init_weights

LEARNERS = ("backprop", "sign", "feedback")


def loss_gradient(graph: WeightGraph, w: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """``[E]`` gradient of each network's mean cross-entropy on ``(x, y)`` with respect to its own weights."""
    w = w.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = task_forward(graph, w, x)                                     # [k, B, C]
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y.expand(logits.shape[0], -1),
                                                 reduction="none").mean(1).sum()
        return torch.autograd.grad(loss, w)[0]


def feedback_direction(arch: Arch, w: Tensor, fb: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """``[k, E_a]``: each layer's ``<delta_j a_i>`` (and ``<delta_j>`` for biases) with the credit of
    :func:`backward_credit` through feedback weights ``fb``, for ``k`` networks ``w [k, E_a]`` of ``arch``."""
    outs, slopes = layer_outputs(arch, w, x, slopes=True)              # L x [k, B, size]
    acts = [x.expand(w.shape[0], -1, -1), *outs[:-1]]
    err = torch.softmax(outs[-1], -1) - torch.nn.functional.one_hot(y, arch.sizes[-1])       # [k, B, C]
    credit, n = backward_credit(arch, fb, err, slopes), x.shape[0]
    grads = []
    for l in range(arch.num_layers):
        d = credit[l]
        grads.append(d.transpose(1, 2) @ acts[l] / n)
        if arch.bias:
            grads.append(d.mean(1))
    return torch.cat([g.flatten(1) for g in grads], dim=1)


def init_scale(graph: WeightGraph) -> Tensor:
    """``[E]``: each weight's Kaiming scale ``sqrt(2 / fan-in)``, a constant of its target neuron."""
    return (2.0 / graph.in_degree[graph.dst].float()).sqrt()


def direction(learner: str, graph: WeightGraph, w: Tensor, x: Tensor, y: Tensor, fb: Tensor | None = None) -> Tensor:
    """``[E]`` update direction (a loss-gradient estimate) of every network of a one-architecture ``graph``:
    ``backprop`` (autograd), ``sign`` (feedback ``sign(w)`` times the Kaiming scale) or ``feedback`` (fixed
    random feedback weights ``fb``, laid out as ``w``)."""
    if learner not in LEARNERS:
        raise ValueError(f"unknown learner {learner!r}; choose one of {LEARNERS}")
    if learner == "backprop":
        return loss_gradient(graph, w, x, y)
    if len({a.key() for a in graph.archs}) != 1:
        raise ValueError("sign and feedback learners take networks of one architecture")
    if learner == "sign":
        fb = torch.sign(w) * init_scale(graph)
    elif fb is None:
        raise ValueError("the feedback learner needs its fixed feedback weights fb")
    k = graph.num_graphs
    return feedback_direction(graph.archs[0], w.view(k, -1), fb.view(k, -1), x, y).flatten()


@torch.no_grad()
def train_local(learner: str, graph: WeightGraph, n: int, steps: int, stream: DataStream, lr: float,
                generator: torch.Generator | None = None, weight_scale: float = 1.0) -> tuple[WeightGraph, Tensor]:
    """``(graph of n networks, w [E])`` after ``steps`` SGD updates of ``n`` fresh Kaiming networks of ``graph``'s
    architecture by ``learner``, one mini-batch of ``stream`` per update: the same budget as ``steps`` growth
    steps of a data-conditioned rule on that stream."""
    big = repeat(graph, n)
    w = init_weights(big, "kaiming", generator) * weight_scale
    fb = init_weights(big, "kaiming", generator) if learner == "feedback" else None
    for _ in range(steps):
        w = w - lr * direction(learner, big, w, *stream(), fb=fb)
    return big, w
