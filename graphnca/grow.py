"""Growing and evaluating task networks with a trained rule (no backprop through the task networks)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .conditioning import DataStream
from .forward import task_forward
from .graph import WeightGraph, repeat
from .nn.metanca_conv import MetaNCAConv
from .rollout import per_weight_scale, rollout
from .runinfo import memory_budget
from .schedules import StepSchedule
from .state import InitConfig, State, init_state


def fresh_states(graph: WeightGraph, n: int, hidden_size: int, init: InitConfig,
                 generator: torch.Generator | None = None) -> Tensor:
    """``[n, E, 1 + H]`` packed fresh states of ``n`` copies of a single-network ``graph``."""
    big = repeat(graph, n)
    return init_state(big, hidden_size, init, generator).pack().view(n, graph.num_weights, -1)


def growth_data(conv: MetaNCAConv, x: Tensor, y: Tensor, batch_size: int,
                generator: torch.Generator | None = None) -> DataStream | None:
    """The mini-batch source growth needs: training data for a data-conditioned rule, ``None`` for a data-free one."""
    return DataStream(x, y, batch_size, generator) if conv.rule.extra_inputs else None


def layer_scale(graph: WeightGraph, hidden: float, output: float) -> Tensor:
    """``[E, 1]`` step multipliers: ``output`` for the weights (and biases) into each network's output layer,
    ``hidden`` for all others — e.g. ``hidden=0`` grows the readout alone on frozen hidden layers."""
    for name, v in (("hidden", hidden), ("output", output)):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} step scale must be a finite number >= 0, got {v}")
    return torch.where(graph.hidden_w, float(hidden), float(output)).unsqueeze(1)     # [E, 1]


def growth_scale(graph: WeightGraph, hidden_size: int, output: float, hidden: float | None = None,
                 hidden_state: float | None = None) -> Tensor:
    """Step multipliers for :func:`grow`: ``[E, 1]`` from :func:`layer_scale` (``hidden`` defaults to ``output``),
    or ``[E, 1 + H]`` when ``hidden_state`` gives the hidden layers' *states* a multiple of their own, e.g.
    ``hidden=0, hidden_state=0.2``: frozen hidden weights whose states still evolve, as in meta-training."""
    scale = layer_scale(graph, output if hidden is None else hidden, output)            # [E, 1]
    if hidden_state is None:
        return scale
    states = layer_scale(graph, hidden_state, output).expand(-1, hidden_size)            # [E, H]
    return torch.cat([scale, states], dim=1)                                           # [E, 1 + H]


def growth_bytes(conv: MetaNCAConv, num_weights: int) -> int:
    """Estimated peak bytes of one growth step over ``num_weights`` weight nodes: the state twice, the
    perception and the rule's widest activations (float32), and the graph's indices."""
    h = conv.hidden_size
    return num_weights * (4 * (2 * (1 + h) + 3 * (1 + h) + 3 * max(conv.rule.widths)) + 24)


def check_memory(conv: MetaNCAConv, num_weights: int, max_bytes: int | None = None) -> None:
    """``ValueError`` before anything is allocated when growing ``num_weights`` nodes would exceed ``max_bytes``
    (default: half of this machine's memory)."""
    need, budget = growth_bytes(conv, num_weights), memory_budget() if max_bytes is None else max_bytes
    if need > budget:
        raise ValueError(f"growing {num_weights:,} weights needs about {need / 2 ** 30:.1f} GiB, over the "
                         f"{budget / 2 ** 30:.1f} GiB budget (--max-memory); grow fewer or smaller networks")


@torch.no_grad()
def grow(conv: MetaNCAConv, graph: WeightGraph, n: int, steps: int, init: InitConfig,
         generator: torch.Generator | None = None, state: State | None = None,
         data=None, scale: Tensor | None = None, callback=None,
         max_bytes: int | None = None) -> tuple[WeightGraph, State]:
    """Grow ``n`` networks of ``graph``'s architecture from fresh states (or from ``state``).

    A data-conditioned rule needs ``data``, a mini-batch source such as :class:`~graphnca.conditioning.DataStream`.
    ``scale``: ``[E, 1]`` per-weight (or ``[E, 1 + H]`` per-channel) step multipliers of one network of
    ``graph`` (see :func:`layer_scale`), applied to all ``n`` copies; ``None`` for the rule's own step.
    ``callback(t, state)`` runs after every step (as in :func:`~graphnca.rollout.rollout`).

    Growth uses the dynamics the rule was trained with: a rule trained asynchronously (``fire_rate < 1``) keeps
    its random fire mask (drawn from ``generator``); a synchronous rule runs in eval mode. Growth that would need
    more than ``max_bytes`` (default: half of this machine's memory, :func:`check_memory`) is refused first.
    """
    check_memory(conv, n * graph.num_weights, max_bytes)
    was = conv.training
    conv.train(conv.fire_rate < 1.0)
    try:
        big = repeat(graph, n)
        if state is None:
            state = State.unpack(fresh_states(graph, n, conv.hidden_size, init, generator).view(big.num_weights, -1)
                                 .to(graph.device))
        return big, rollout(conv, big, state, steps, generator=generator, data=data, callback=callback,
                            scale=None if scale is None else per_weight_scale(scale).repeat(n, 1))
    finally:
        conv.train(was)


def grow_scheduled(conv: MetaNCAConv, graph: WeightGraph, n: int, schedule: StepSchedule, init: InitConfig,
                   generator: torch.Generator | None = None, data=None, scale: Tensor | None = None,
                   callback=None, max_bytes: int | None = None) -> tuple[WeightGraph, State]:
    """:func:`grow` through ``schedule``'s segments in order, each multiplying ``scale`` (``None``: the rule's own
    step) by its ``k``; a one-segment schedule at ``k = 1`` is exactly ``grow(..., schedule.steps, ...)``.
    ``callback(t, state)`` gets the step within its segment."""
    state = None
    for k, steps in schedule.segments:
        seg = scale if k == 1.0 else k * (torch.ones(graph.num_weights, 1, device=graph.device) if scale is None
                                          else scale)
        big, state = grow(conv, graph, n, steps, init, generator, state=state, data=data, scale=seg,
                          callback=callback, max_bytes=max_bytes)
    return big, state


@torch.no_grad()
def accuracy(graph: WeightGraph, w: Tensor, x: Tensor, y: Tensor, chunk: int = 4096) -> Tensor:
    """``[B]`` accuracy of every network in ``graph`` on ``(x, y)``, in data chunks to bound memory."""
    correct = torch.zeros(graph.num_graphs, device=w.device)
    for i in range(0, len(x), chunk):
        logits = task_forward(graph, w, x[i:i + chunk])
        if isinstance(logits, list):
            logits = torch.stack(logits)
        correct += (logits.argmax(-1) == y[i:i + chunk]).float().sum(1)
    return correct / len(x)


@torch.no_grad()
def loss_and_accuracy(graph: WeightGraph, w: Tensor, x: Tensor, y: Tensor,
                      label_smoothing: float = 0.0) -> tuple[Tensor, Tensor]:
    """Per-network mean cross-entropy and accuracy ``([B], [B])`` on a (small) data set."""
    logits = task_forward(graph, w, x)                                    # [B, N, C]
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y.expand(logits.shape[0], -1), reduction="none",
                                           label_smoothing=label_smoothing)
    return ce.mean(1), (logits.argmax(-1) == y).float().mean(1)
