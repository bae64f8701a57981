"""Initial states of the weight nodes: weights and hidden states.

Why positional hidden states: the rule is shared and local, and a fresh network is symmetric: every input pixel,
every hidden unit and every output class looks the same to it. A rule that cannot tell output class 3 from class 7
grows the same weights for both, so the grown network cannot beat chance. ``"positional"`` hidden states give every
weight fixed identities of its two neurons that do not depend on the architecture:

- a neuron's code is a set of half-wave cosines of its *relative* position ``r = (pos + 0.5) / width`` in its layer
  (2-D: of its row and column for image inputs), so hidden unit 10 of 20 and unit 50 of 100 look alike and a rule
  grown on narrow layers meets familiar codes in wide ones;
- three flags say whether the source is an input or a bias unit and whether the target is an output; there is no
  code of the layer index, so every hidden-to-hidden layer looks alike and a rule meets familiar weights at a depth
  it never saw.

``"random"`` and ``"zeros"`` exist for ablations and for data-conditioned rules, where the random weights already
break the symmetry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .graph import WeightGraph


class State(NamedTuple):
    """Grown state of a (batched) weight graph: ``w: [E]`` weights, ``h: [E, H]`` hidden states."""

    w: Tensor
    h: Tensor

    def pack(self) -> Tensor:
        return torch.cat([self.w.unsqueeze(1), self.h], dim=1)  # [E, 1 + H]

    @staticmethod
    def unpack(x: Tensor) -> "State":
        return State(x[:, 0], x[:, 1:])


@dataclass
class InitConfig:
    """How fresh task networks start."""

    weight_init: str = "kaiming"      # kaiming | xavier | zeros
    weight_scale: float = 0.1         # multiplies the random init: near-zero networks grow best (RESULTS.md ablation)
    hidden_init: str = "positional"   # positional | random | zeros
    input_shape: tuple[int, ...] | None = None  # e.g. (28, 28): 2-D (row, col) codes for input pixels


WEIGHT_INITS = ("kaiming", "xavier", "zeros")
HIDDEN_INITS = ("positional", "random", "zeros")


def _code_rel(pos: Tensor, n: Tensor, dims: int) -> Tensor:
    """``[k, dims]`` half-wave cosines ``cos(pi f r)``, ``f = 1..dims``, of relative positions ``r = (pos+0.5)/n``."""
    r = (pos.float() + 0.5) / n.float()
    f = torch.arange(1, dims + 1, dtype=torch.float32)
    return torch.cos(math.pi * r.unsqueeze(1) * f)


def _code_2d(pos: Tensor, dims: int, shape: tuple[int, int]) -> Tensor:
    """``[k, dims]`` codes of pixel (row, col): even channels vary down the rows, odd ones across the columns."""
    rows, cols = shape
    r, c = (pos // cols).float(), (pos % cols).float()
    out = []
    for k in range(dims):
        f = k // 2 + 1
        axis, n = (r, rows) if k % 2 == 0 else (c, cols)
        out.append(torch.cos(math.pi * f * (axis + 0.5) / n))
    return torch.stack(out, dim=1) if dims else torch.zeros(len(pos), 0)


NUM_FLAGS = 3   # [source is an input, source is a bias unit, target is an output]


def split_hidden(hidden_size: int) -> tuple[int, int, int]:
    """How ``H`` is shared between flags, source code and target code (e.g. 24 -> 3, 11, 10)."""
    flags = min(NUM_FLAGS, hidden_size)
    d_src = (hidden_size - flags + 1) // 2
    return flags, d_src, hidden_size - flags - d_src


def _neuron_width(graph: WeightGraph) -> Tensor:
    """``[N]`` (CPU) width of every neuron's layer (a bias unit: the layer it sits after)."""
    ptr = graph.ptr_n.cpu().tolist()
    layer = graph.neuron_layer.cpu()
    return torch.cat([torch.tensor(a.sizes)[layer[ptr[i]:ptr[i + 1]]] for i, a in enumerate(graph.archs)])


def is_bias_unit(graph: WeightGraph) -> Tensor:
    """``[N]`` bool (CPU): the bias units (position ``sizes[l]`` in layer ``l``, after the real neurons)."""
    return graph.neuron_pos.cpu() >= _neuron_width(graph)


def neuron_codes(graph: WeightGraph, dims: int, input_shape=None) -> Tensor:
    """``[N, dims]`` relative-position codes of every neuron (2-D for image inputs); zeros for bias units."""
    pos, layer = graph.neuron_pos.cpu(), graph.neuron_layer.cpu()
    code = _code_rel(pos, _neuron_width(graph), dims)                  # [N, dims]
    if input_shape is not None and len(input_shape) == 2:
        inputs = layer == 0
        code[inputs] = _code_2d(pos[inputs], dims, tuple(input_shape))
    code[is_bias_unit(graph)] = 0.0
    return code


def positional_hidden(graph: WeightGraph, hidden_size: int, input_shape=None) -> Tensor:
    """``[E, H]`` hidden states: flags, then the source neuron's and the target neuron's relative-position codes."""
    n_flags, d_src, d_dst = split_hidden(hidden_size)
    src, dst = graph.src.cpu(), graph.dst.cpu()
    layer = graph.neuron_layer.cpu()
    last = torch.tensor([a.num_layers for a in graph.archs])[graph.batch_w.cpu()]          # [E] output layer
    bias = is_bias_unit(graph)                                                              # [N]
    flags = torch.stack([(layer[src] == 0) & ~bias[src], bias[src], layer[dst] == last], dim=1).float()  # [E, 3]
    h = torch.cat([flags[:, :n_flags], neuron_codes(graph, d_src, input_shape)[src],
                   neuron_codes(graph, d_dst)[dst]], dim=1)                                 # [E, H]
    return h.to(graph.device)


def init_weights(graph: WeightGraph, scheme: str = "kaiming", generator: torch.Generator | None = None) -> Tensor:
    """``[E]`` random weights; fan-in / fan-out are neuron degrees, so masked layers are handled too."""
    if scheme not in WEIGHT_INITS:
        raise ValueError(f"unknown weight_init {scheme!r}; choose one of {WEIGHT_INITS}")
    if scheme == "zeros":
        return torch.zeros(graph.num_weights, device=graph.device)
    fan_in = graph.in_degree[graph.dst].float()                       # [E] (includes the bias unit)
    fan_out = graph.out_degree[graph.src].float()
    std = (2.0 / fan_in).sqrt() if scheme == "kaiming" else (2.0 / (fan_in + fan_out.clamp(min=1))).sqrt()
    noise = torch.randn(graph.num_weights, generator=generator).to(graph.device)
    return noise * std


def init_state(graph: WeightGraph, hidden_size: int, cfg: InitConfig | None = None,
               generator: torch.Generator | None = None) -> State:
    """A fresh :class:`State` for every network in ``graph``."""
    cfg = cfg or InitConfig()
    if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size < 0:
        raise ValueError(f"hidden_size must be a whole number >= 0, got {hidden_size!r}")
    if cfg.hidden_init not in HIDDEN_INITS:
        raise ValueError(f"unknown hidden_init {cfg.hidden_init!r}; choose one of {HIDDEN_INITS}")
    w = init_weights(graph, cfg.weight_init, generator) * cfg.weight_scale
    if cfg.hidden_init == "positional":
        h = positional_hidden(graph, hidden_size, cfg.input_shape)
    elif cfg.hidden_init == "random":
        h = torch.randn(graph.num_weights, hidden_size, generator=generator).to(graph.device)
    else:
        h = torch.zeros(graph.num_weights, hidden_size, device=graph.device)
    return State(w, h)
