"""The inner loop: grow task networks by applying the local rule, as a pure function of the state."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint as _checkpoint

from .graph import WeightGraph
from .nn.metanca_conv import MetaNCAConv
from .rule import LocalRule
from .state import State


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
    checkpointed step, so recomputation sees the same mask. ``callback(t, state)`` runs after every step. Without
    autograd (growth) a state that turns NaN/Inf raises ``ValueError`` naming the step where it happened.

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
