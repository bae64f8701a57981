"""The shared local rule: one small MLP applied to every weight's perception."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conditioning import num_features


@dataclass
class RuleConfig:
    """Shape and dynamics of the local rule (everything a checkpoint needs to rebuild it)."""

    hidden_size: int = 8            # H, the per-weight hidden state
    widths: tuple[int, ...] = (64,)  # hidden layers of the rule MLP
    step_size: float = 0.1           # bound on |Δw|, |Δh| per update (tanh output times this)
    fire_rate: float = 1.0           # probability a weight updates per step (<1: asynchronous, as in GNCA)
    neighbourhood: str = "incident"
    condition: str = "none"          # none: the paper's data-free rule | data: sees activity and output errors |
                                     # moments: data plus slope-weighted co-activities | feedback: data plus
                                     # per-example credit through the last hidden channel (graphnca.conditioning)
    deadzone: float = 0.0            # MLP outputs with |z| <= this give exactly no update: grown networks can be
                                     # exact fixed points instead of drifting by tiny residual updates (the iris
                                     # demo's rules use 0.2)
    interaction: int = 0             # multiplicative units in the rule's first layer (products of two linear maps
                                     # of the input): products such as credit x Hebbian term in one layer
    feature_gain: float = 1.0        # multiplies the data features before the rule reads them: they are batch means
                                     # of products, O(1e-2), beside O(1) states (1 for every rule trained before it)


class _ReLUFn(torch.autograd.Function):
    """ReLU whose backward multiplies by ``sign(output)`` (0 or 1): one float product instead of
    ``threshold_backward``, measured 6x faster on CPU on the rule's ``[E, width]`` activations."""

    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:
        out = z.clamp_min(0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        out, = ctx.saved_tensors
        return torch.sign(out).mul_(g)


class ReLU(nn.ReLU):
    """``nn.ReLU`` with :class:`_ReLUFn`'s backward (same parameters and state dict: none)."""

    def forward(self, z: Tensor) -> Tensor:
        return _ReLUFn.apply(z) if torch.is_grad_enabled() and z.requires_grad else torch.relu(z)


class LocalRule(nn.Module):
    r"""The node-update MLP :math:`R: \mathbb{R}^{3(1+H)+F} \to \mathbb{R}^{1+H}`,

    .. math::
        R(p) = s \cdot \tanh\big(\mathrm{shrink}_\lambda(\mathrm{MLP}(p))\big), \qquad
        \mathrm{shrink}_\lambda(z) = \mathrm{sign}(z)\max(|z| - \lambda, 0),

    giving :math:`(\Delta w, \Delta h)` bounded by the step size :math:`s`. The dead zone :math:`\lambda \ge 0`
    (0: none) lets a grown network be an exact fixed point of the rule, so it cannot drift by accumulating tiny
    residual updates over thousands of steps; its gradient is taken straight through (identity), else a rule
    inside the zone would get none. The last layer starts at zero, so an
    untrained rule is the identity dynamics (every update is 0) and meta-training starts from a stable point.
    :math:`F` extra inputs per weight (0 for the data-free rule; the data features of
    :mod:`graphnca.conditioning` for a conditioned one) follow the perception.

    With ``interaction = r > 0`` the first hidden layer also holds ``r`` multiplicative units,
    :math:`[\,\mathrm{ReLU}(W p + b),\ (A p + a) \odot (C p + c)\,]`: a product of two things a weight sees (say
    a credit in its neighbours' states and its own Hebbian term) is one layer away instead of being approximated by
    ReLUs. The three maps are one ``Linear`` of width ``widths[0] + 2r``, so the no-grad engine's neuron-level
    factoring of the first layer still applies.

    Shapes:
        - **input:** perception :math:`(E, 3(1+H) + F)`
        - **output:** update :math:`(E, 1+H)`
    """

    def __init__(self, hidden_size: int = 8, widths=(64,), step_size: float = 0.1, extra_inputs: int = 0,
                 deadzone: float = 0.0, interaction: int = 0):
        super().__init__()
        if (hidden_size < 0 or extra_inputs < 0 or not widths or any(w < 1 for w in widths) or not deadzone >= 0
                or interaction < 0):
            raise ValueError(f"need hidden_size >= 0, extra_inputs >= 0, at least one positive width, deadzone >= 0 "
                             f"and interaction >= 0, got {hidden_size}, {extra_inputs}, {widths}, {deadzone}, "
                             f"{interaction}")
        self.hidden_size, self.step_size, self.deadzone = int(hidden_size), float(step_size), float(deadzone)
        self.state_dim, self.extra_inputs = 1 + self.hidden_size, int(extra_inputs)
        self.widths, self.interaction = tuple(int(w) for w in widths), int(interaction)
        self.in_dim = 3 * self.state_dim + self.extra_inputs
        r = self.interaction
        self.first = nn.Linear(self.in_dim, widths[0] + 2 * r)          # [ReLU units | A | C]
        rest: list[nn.Module] = [ReLU()]
        prev = widths[0] + r
        for b in widths[1:]:
            rest += [nn.Linear(prev, b), ReLU()]
            prev = b
        last = nn.Linear(prev, self.state_dim)
        nn.init.zeros_(last.weight), nn.init.zeros_(last.bias)
        self.rest = nn.Sequential(*rest, last)

    @classmethod
    def from_config(cls, cfg: RuleConfig) -> "LocalRule":
        return cls(cfg.hidden_size, tuple(cfg.widths), cfg.step_size, num_features(cfg.condition), cfg.deadzone,
                   cfg.interaction)

    def head(self, z: Tensor) -> Tensor:
        """Everything after the first linear layer: pre-activation ``[E, width + 2r] -> [E, 1 + H]``."""
        r = self.interaction
        if r:
            w = z.shape[1] - 2 * r
            z = torch.cat([torch.relu(z[:, :w]), z[:, w:w + r] * z[:, w + r:]], dim=1)   # [E, width + r]
            z = self.rest[1:](z)                                               # the ReLU is applied above
        else:
            z = self.rest(z)                                                   # [E, 1 + H]
        if self.deadzone:   # straight-through gradient: the untrained rule (all z = 0) must still learn
            z = z + (F.softshrink(z, self.deadzone) - z).detach()
        return self.step_size * torch.tanh(z)

    def forward(self, p: Tensor) -> Tensor:
        if p.dim() != 2 or p.shape[1] != self.in_dim:
            raise ValueError(f"perception must be [E, 3(1+H) + F] = [E, {self.in_dim}] for hidden size "
                             f"{self.hidden_size} and {self.extra_inputs} extra inputs, got {list(p.shape)}")
        return self.head(self.first(p))
