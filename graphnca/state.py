"""Initial states of the weight nodes: weights and hidden states.

Why positional hidden states: the rule is shared and local, and a fresh network is symmetric — every input pixel,
every hidden unit and every output class looks the same to it. A rule that cannot tell output class 3 from class 7
grows the same weights for both, so the grown network cannot beat chance on average. Hidden states initialised
from sinusoidal codes of (source neuron index, target neuron index, layer index) break that symmetry with fixed,
architecture-independent identities: input ``i`` and class ``k`` get the same code in every architecture, which is
what lets one rule grow networks of unseen widths and depths. ``"random"`` and ``"zeros"`` exist for ablations and
for data-conditioned rules: there the random weights already break the symmetry, and a rule without pixel and class
identities cannot memorise one task's templates, so ``"zeros"`` transfers better to new tasks (RESULTS.md, issue 6).
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


def _code_1d(pos: Tensor, dims: int) -> Tensor:
    """``[n, dims]`` sinusoids of integer positions; frequencies 1, 1/4, 1/16, ... radians per index."""
    k = torch.arange(dims, dtype=torch.float32)
    freq = 4.0 ** -(k // 2)
    phase = (k % 2) * (math.pi / 2)
    return torch.sin(pos.float().unsqueeze(1) * freq + phase)


def _code_2d(pos: Tensor, dims: int, shape: tuple[int, int]) -> Tensor:
    """``[n, dims]`` smooth codes of pixel (row, col): half-wave sinusoids over the image at rising frequency."""
    rows, cols = shape
    r, c = (pos // cols).float(), (pos % cols).float()
    out = []
    for k in range(dims):
        f = k // 2 + 1
        axis, n = (r, rows) if k % 2 == 0 else (c, cols)       # even channels vary down rows, odd across columns
        out.append(torch.cos(math.pi * f * (axis + 0.5) / n))
    return torch.stack(out, dim=1)


def _layer_code(layer: Tensor, num_layers: Tensor, dims: int) -> Tensor:
    """``[E, dims]``: relative depth (first, middle, last are told apart at any depth), then absolute sinusoids."""
    rel = layer.float() / (num_layers - 1).clamp(min=1).float()
    code = torch.stack([torch.cos(math.pi * rel), torch.sin(math.pi * rel)], dim=1)[:, :dims]
    if dims > 2:
        code = torch.cat([code, _code_1d(layer, dims - 2)], dim=1)
    return code


def split_hidden(hidden_size: int) -> tuple[int, int, int]:
    """How ``H`` is shared between source, target and layer codes (e.g. 8 -> 3, 3, 2)."""
    d_layer = min(hidden_size, max(1, hidden_size // 4)) if hidden_size else 0
    d_src = (hidden_size - d_layer + 1) // 2
    return d_src, hidden_size - d_layer - d_src, d_layer


def positional_hidden(graph: WeightGraph, hidden_size: int, input_shape=None) -> Tensor:
    """``[E, H]`` hidden states coding (source index, target index, layer) of every weight."""
    d_src, d_dst, d_layer = split_hidden(hidden_size)
    pos = graph.neuron_pos.cpu()
    src_code = _code_1d(pos, d_src)                                   # [N, d_src]
    if input_shape is not None and len(input_shape) == 2:
        inputs = graph.neuron_layer.cpu() == 0
        src_code[inputs] = _code_2d(pos[inputs], d_src, tuple(input_shape))
    dst_code = _code_1d(pos, d_dst)                                   # [N, d_dst]
    depth = torch.tensor([a.num_layers for a in graph.archs])[graph.batch_w.cpu()]  # [E]
    layer_code = _layer_code(graph.layer.cpu(), depth, d_layer)       # [E, d_layer]
    h = torch.cat([src_code[graph.src.cpu()], dst_code[graph.dst.cpu()], layer_code], dim=1)
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
