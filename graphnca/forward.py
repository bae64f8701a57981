"""Run task networks straight from graph state, batched, without converting them to modules."""
from __future__ import annotations

import torch
from torch import Tensor

from . import activations as acts
from .graph import Arch, WeightGraph


def layer_params(arch: Arch, w: Tensor) -> list[tuple[Tensor, Tensor | None]]:
    """Per linear layer ``(W [..., out, in], b [..., out] or None)`` from weights ``w [..., E]`` of one network,
    with the architecture's mean-field gain applied (the effective weights a module would hold)."""
    out, off = [], 0
    for l, (n_w, n_b) in enumerate(arch.layer_counts()):
        n_in, n_out = arch.sizes[l], arch.sizes[l + 1]
        flat = w[..., off:off + n_w]
        mask = arch.mask(l)
        if mask is not None:  # missing connections are exact zeros
            dense = flat.new_zeros(*flat.shape[:-1], n_out * n_in)
            dense[..., mask.flatten().to(flat.device)] = flat
            flat = dense
        off += n_w
        bias = w[..., off:off + n_b] if n_b else None
        off += n_b
        W = flat.reshape(*flat.shape[:-1], n_out, n_in)
        gain = arch.gain(l)
        out.append((W if gain == 1.0 else W * gain, bias))
    return out


def layer_outputs(arch: Arch, w: Tensor, x: Tensor, slopes: bool = False):
    """Every layer's output (after its activations) of stacked networks ``w: [k, E_a]`` on ``x: [N, in]`` or
    ``[k, N, in]``: a list of ``L`` tensors ``[k, N, sizes[l + 1]]``.

    ``slopes=True`` (for observations, e.g. :mod:`graphnca.conditioning`) also returns each layer's activation
    derivative at its pre-activation (same shapes; ones for a layer without activation), differentiating the
    element-wise activations alone: the outputs are then detached from ``w``.
    """
    modules = [[acts.from_spec(s) for s in group] for group in arch.activations]
    y, outs, ds = x, [], []
    for (W, b), group in zip(layer_params(arch, w), modules):
        y = torch.matmul(y, W.transpose(-1, -2))                        # [k, N, out]
        if b is not None:
            y = y + b.unsqueeze(-2)
        if slopes:
            y, d = _slope(group, y)
            ds.append(d)
        else:
            for act in group:
                y = act(y)
        outs.append(y)
    return (outs, ds) if slopes else outs


def _slope(group, z: Tensor) -> tuple[Tensor, Tensor]:
    """``(act(z), act'(z))`` of element-wise activations, on a detached copy: no gradient reaches the weights."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        y = z
        for act in group:
            y = act(y)
        if y is z:                                          # no activation: slope 1
            return z.detach(), torch.ones_like(z)
        d, = torch.autograd.grad(y.sum(), z)
    return y.detach(), d


def task_forward(graph: WeightGraph, w: Tensor, x: Tensor) -> Tensor | list[Tensor]:
    """Outputs of every network in ``graph`` with weights ``w: [E]`` on inputs ``x``.

    ``x`` is ``[N, in]`` (the same batch for all networks) or ``[B, N, in]`` (one batch per network). Returns
    ``[B, N, out]``, or a list of ``[N, out_b]`` when the members' output sizes differ. Networks of equal
    architecture run together as one batched matmul per layer.
    """
    if w.shape != (graph.num_weights,):
        raise ValueError(f"w must have shape [{graph.num_weights}], got {list(w.shape)}")
    B = graph.num_graphs
    in_sizes = {a.sizes[0] for a in graph.archs}
    if x.shape[-1] not in in_sizes or len(in_sizes) != 1:
        raise ValueError(f"input has {x.shape[-1]} features but the networks take {sorted(in_sizes)}")
    if x.dim() == 3 and x.shape[0] != B:
        raise ValueError(f"per-network inputs must be [B={B}, N, in], got {list(x.shape)}")
    groups: dict[tuple, list[int]] = {}
    for i, a in enumerate(graph.archs):
        groups.setdefault(a.key(), []).append(i)
    outs: list[Tensor | None] = [None] * B
    ptr = graph.ptr_w.tolist()
    for idx in groups.values():
        arch = graph.archs[idx[0]]
        if len(idx) == B:                                    # homogeneous batch: a free view
            ws = w.view(B, -1)
        else:
            ws = torch.stack([w[ptr[i]:ptr[i + 1]] for i in idx])
        xs = x if x.dim() == 2 else x[idx]
        y = layer_outputs(arch, ws, xs)[-1]                               # [k, N, out]
        for j, i in enumerate(idx):
            outs[i] = y[j]
    if len({o.shape[-1] for o in outs}) == 1:
        return torch.stack(outs)
    return outs
