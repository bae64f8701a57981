"""The inner loop and growth: :func:`rollout` applies the local rule to a state as a pure function (growth without
autograd, meta-training with it); :func:`grow` and the helpers below grow and evaluate task networks with a trained
rule (no backprop through the task networks)."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint as _checkpoint

from .conditioning import DataStream
from .forward import task_forward
from .graph import WeightGraph, repeat
from .nn.metanca_conv import MetaNCAConv
from .rule import LocalRule
from .runinfo import memory_budget
from .schedules import StepSchedule
from .state import InitConfig, State, init_state


def check_finite(state: State, what: str = "state") -> None:
    """``ValueError`` if any weight or hidden value is NaN or infinite."""
    for name, t in (("w", state.w), ("h", state.h)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{what} holds NaN/Inf values in {name}")


def per_weight_scale(scale: Tensor) -> Tensor:
    """A step scale as a column per weight: ``[E]`` -> ``[E, 1]``; ``[E, 1]`` and ``[E, 1 + H]`` unchanged."""
    return scale.unsqueeze(1) if scale.dim() == 1 else scale


def as_conv(rule: MetaNCAConv | LocalRule) -> MetaNCAConv:
    """A :class:`MetaNCAConv` around a bare :class:`LocalRule` (default fire rate and neighbourhood)."""
    return rule if isinstance(rule, MetaNCAConv) else MetaNCAConv(rule=rule)


def rollout(rule: MetaNCAConv | LocalRule, graph: WeightGraph, state: State, steps: int, *,
            checkpoint: bool = False, generator: torch.Generator | None = None,
            callback: Callable[[int, State], None] | None = None,
            data: Callable[[], tuple[Tensor, Tensor]] | None = None, scale: Tensor | None = None) -> State:
    """Apply ``steps`` local updates to every weight of ``graph`` and return the new :class:`State`.

    Pure: the input state is not modified. Works under ``torch.no_grad()`` (growth) and with autograd
    (meta-training); ``checkpoint=True`` recomputes each step in the backward pass instead of storing its
    activations, so memory is O(E * (1 + H)) per step rather than O(E * width). Fire masks are drawn before each
    checkpointed step, so recomputation sees the same mask; ``generator`` may be a list with one generator per
    network (networks of equal size), each drawing its own network's masks. ``callback(t, state)`` runs after
    every step. Without autograd (growth) a state that turns NaN/Inf raises ``ValueError`` naming the step where
    it happened.

    A data-conditioned rule needs ``data``: a callable returning one mini-batch ``(x, y)`` per step (e.g.
    :class:`graphnca.conditioning.DataStream`); its features are computed, without autograd, before the step.

    ``scale`` (optional, ``[E, 1]`` or ``[E]``, >= 0) multiplies every weight's update, e.g. a smaller step for a
    task or width the rule was not trained on (:func:`graphnca.grow.layer_scale`); 0 freezes a weight. A
    ``[E, 1 + H]`` scale sets the weight's and each hidden channel's multiple apart (e.g. a frozen weight whose
    hidden state still evolves).
    """
    conv = as_conv(rule)
    if state.h.shape[1] != conv.hidden_size:
        raise ValueError(f"state has hidden size {state.h.shape[1]} but the rule expects {conv.hidden_size}")
    if state.w.shape[0] != graph.num_weights:
        raise ValueError(f"state has {state.w.shape[0]} weights but the graph has {graph.num_weights}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if (data is not None) != bool(conv.rule.extra_inputs):
        raise ValueError("a data-conditioned rule needs data= (a mini-batch source) and a data-free rule takes none")
    check_finite(state)
    if scale is not None:
        scale = per_weight_scale(scale.to(state.w))                      # [E, 1] or [E, 1 + H]
        shapes = ((graph.num_weights, 1), (graph.num_weights, 1 + conv.hidden_size))
        if tuple(scale.shape) not in shapes or not (torch.isfinite(scale).all() and (scale >= 0).all()):
            raise ValueError(f"scale must hold {graph.num_weights} finite values >= 0 (one per weight), or one per "
                             f"weight and state channel {list(shapes[1])}, got shape {list(scale.shape)}")
    x = state.pack()                                                  # [E, 1 + H]
    grad = torch.is_grad_enabled() and checkpoint
    watch = not torch.is_grad_enabled()     # meta-training rolls a non-finite step back instead (train.py)

    def step(x: Tensor, mask: Tensor, feats: Tensor | None) -> Tensor:
        return conv(x, graph=graph, fire_mask=mask, features=feats)

    for t in range(steps):
        mask = conv.sample_fire_mask(graph.num_weights, x.device, generator)  # [E, 1]
        if scale is not None:
            mask = mask * scale                                       # x + (mask * scale) * delta
        feats = conv.features(graph, x, data()) if data is not None else None  # [E, F], no autograd
        x = _checkpoint(step, x, mask, feats, use_reentrant=False) if grad else step(x, mask, feats)
        if watch and not torch.isfinite(x).all():   # say where it entered: a NaN spreads to every weight
            check_finite(State.unpack(x), f"state after growth step {t + 1}")
        if callback is not None:
            callback(t + 1, State.unpack(x))
    return State.unpack(x)


def fresh_states(graph: WeightGraph, n: int, hidden_size: int, init: InitConfig,
                 generator: torch.Generator | None = None) -> Tensor:
    """``[n, E, 1 + H]`` packed fresh states of ``n`` copies of a single-network ``graph``."""
    big = repeat(graph, n)
    return init_state(big, hidden_size, init, generator).pack().view(n, graph.num_weights, -1)


def network_seed(seed: int, i: int) -> int:
    """The seed of network ``i`` of a growth seeded ``seed``: a network does not depend on how many grow beside
    it (a 64-bit mix, so that nearby seeds and indices do not share streams)."""
    return (int(seed) * 0x9E3779B97F4A7C15 + int(i) * 0xBF58476D1CE4E5B9) % 2 ** 63


def network_generators(seed: int, n: int) -> list[torch.Generator]:
    """One CPU generator per network, network ``i`` seeded by :func:`network_seed` ``(seed, i)`` alone."""
    return [torch.Generator().manual_seed(network_seed(seed, i)) for i in range(n)]


def seeded_states(graph: WeightGraph, hidden_size: int, init: InitConfig, generators: list) -> State:
    """Fresh states of ``len(generators)`` copies of a single-network ``graph``, network ``i`` drawn from
    ``generators[i]`` alone (:func:`network_generators`): the first ``k`` networks are the same for every
    ``n >= k``. :func:`grow` given the same list draws each network's fire masks from its own generator too."""
    parts = [fresh_states(graph, 1, hidden_size, init, g) for g in generators]      # n x [1, E, 1 + H]
    return State.unpack(torch.cat(parts).view(len(parts) * graph.num_weights, -1).to(graph.device))


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
    return num_weights * (4 * (2 * (1 + h) + conv.rule.in_dim + 3 * max(conv.rule.widths)) + 24)


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
    ``callback(t, state)`` runs after every step (as in :func:`rollout`).

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
