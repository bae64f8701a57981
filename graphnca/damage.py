"""Zero-out damage: one whole layer plus a fraction of the other weights set to zero."""
from __future__ import annotations

import torch
from torch import Tensor

from .graph import WeightGraph


def zero_out(graph: WeightGraph, w: Tensor, p: float = 0.3, generator: torch.Generator | None = None,
             return_mask: bool = False):
    """Damage every network in ``graph``: zero one random linear layer entirely (weights and biases) and a
    fraction ``p`` of each network's remaining weights. Returns the damaged copy of ``w`` (and the ``[E]`` bool
    mask of zeroed weights with ``return_mask=True``). Hidden states are untouched: they are what regrows."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"damage fraction p must be in [0, 1], got {p}")
    if w.shape != (graph.num_weights,):
        raise ValueError(f"w must have shape [{graph.num_weights}], got {list(w.shape)}")
    depth = torch.tensor([a.num_layers for a in graph.archs])
    chosen = (torch.rand(graph.num_graphs, generator=generator) * depth).long()     # [B] layer per network
    batch, layer = graph.batch_w.cpu(), graph.layer.cpu()
    whole = layer == chosen[batch]                                                   # [E]
    rest = (~whole).nonzero().flatten()
    hit = torch.zeros_like(whole)
    for b in range(graph.num_graphs):  # exactly round(p * n_rest) per network
        cand = rest[batch[rest] == b]
        k = int(round(p * len(cand)))
        hit[cand[torch.randperm(len(cand), generator=generator)[:k]]] = True
    mask = (whole | hit).to(w.device)
    out = w.masked_fill(mask, 0.0)
    return (out, mask) if return_mask else out
