"""The weight graph: every weight of a feed-forward network is a node.

Neurons are the inputs, the hidden and output units, and one *bias unit* per linear layer (a neuron with no inputs
whose outgoing weights are that layer's biases). A weight ``e = (i -> j)`` has source neuron ``i = src[e]`` and
target neuron ``j = dst[e]``. Weight nodes are numbered in ``parameters_to_vector`` order (per layer: the weight
matrix row-major, then the bias), so a state vector ``w`` *is* the flat parameter vector of the network.

Several networks, of any architectures, combine into one disjoint graph with :func:`batch`; each member keeps a
contiguous range of weight nodes (``ptr_w``) and of neurons (``ptr_n``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import torch
from torch import Tensor

from . import activations as acts
from .line_graph import DEFAULT_NEIGHBOURHOOD
from .runinfo import memory_budget

NEIGHBOURHOODS = ("incident", "consecutive", "siblings")


@dataclass(frozen=True, eq=False)
class Arch:
    """One network's architecture: layer sizes, bias flag, activations after each linear layer, optional masks.

    ``mean_field = c`` (optional) multiplies the weights out of every hidden layer of width ``n`` by ``c / n`` in the
    forward pass (biases and the first layer unscaled): a hidden unit then sums a *mean* over its inputs, so weights
    of the same size give activations of the same size at any width, which is what lets a rule grown on narrow
    layers grow wide ones. :func:`graphnca.to_sequential` folds the factor into the exported weights.
    """

    sizes: tuple[int, ...]
    bias: bool
    activations: tuple[tuple[str, ...], ...]  # per linear layer: specs of the element-wise modules after it
    masks: tuple[Tensor | None, ...] | None = None  # per linear layer: bool [out, in], True = connection exists
    mean_field: float | None = None

    def gain(self, l: int) -> float:
        """Forward multiplier of linear layer ``l``'s weights (1 without ``mean_field`` and for the first layer)."""
        return 1.0 if self.mean_field is None or l == 0 else self.mean_field / self.sizes[l]

    @property
    def num_layers(self) -> int:
        return len(self.sizes) - 1

    def layer_counts(self) -> list[tuple[int, int]]:
        """Per linear layer: (number of weight-matrix nodes, number of bias nodes)."""
        out = []
        for l, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            mask = self.mask(l)
            out.append((int(mask.sum()) if mask is not None else n_in * n_out, n_out if self.bias else 0))
        return out

    def mask(self, l: int) -> Tensor | None:
        return None if self.masks is None else self.masks[l]

    @property
    def num_weights(self) -> int:
        return sum(a + b for a, b in self.layer_counts())

    @property
    def num_neurons(self) -> int:
        return sum(self.sizes) + (self.num_layers if self.bias else 0)

    def __eq__(self, other) -> bool:
        return isinstance(other, Arch) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def key(self) -> tuple:
        """Hashable identity (masks by content), used to group equal architectures."""
        return self._key

    @cached_property
    def _key(self) -> tuple:
        masks = None if self.masks is None else tuple(
            None if m is None else (tuple(m.shape), tuple(m.flatten().nonzero().flatten().tolist()))
            for m in self.masks)
        return (self.sizes, self.bias, self.activations, masks, self.mean_field)

    def to_dict(self) -> dict:
        return {"sizes": list(self.sizes), "bias": self.bias,
                "activations": [list(a) for a in self.activations],
                "masks": None if self.masks is None else [None if m is None else m.tolist() for m in self.masks],
                "mean_field": self.mean_field}

    @staticmethod
    def from_dict(d: dict) -> "Arch":
        masks = d.get("masks")
        return Arch(tuple(int(s) for s in d["sizes"]), bool(d["bias"]), tuple(tuple(a) for a in d["activations"]),
                    None if masks is None else tuple(None if m is None else torch.tensor(m, dtype=torch.bool)
                                                     for m in masks), d.get("mean_field"))


BYTES_PER_WEIGHT_NODE = 40   # src, dst, layer (int64) and a weight and a little hidden state (float32)


def _check_arch(arch: Arch, max_bytes: int | None = None) -> None:
    if len(arch.sizes) < 2 or any(int(s) < 1 for s in arch.sizes):
        raise ValueError(f"sizes must list at least two positive layer sizes, got {list(arch.sizes)}")
    if arch.mean_field is not None and not (math.isfinite(arch.mean_field) and arch.mean_field > 0):
        raise ValueError(f"mean_field must be a finite number > 0 (or None), got {arch.mean_field}")
    if len(arch.activations) != arch.num_layers:
        raise ValueError(f"expected {arch.num_layers} activation groups, got {len(arch.activations)}")
    for group in arch.activations:
        for spec in group:
            acts.from_spec(spec)
    if arch.masks is not None:
        if len(arch.masks) != arch.num_layers:
            raise ValueError(f"expected {arch.num_layers} masks (one per linear layer), got {len(arch.masks)}")
        for l, m in enumerate(arch.masks):
            want = (arch.sizes[l + 1], arch.sizes[l])
            if m is not None and (m.dtype != torch.bool or tuple(m.shape) != want):
                raise ValueError(f"mask of layer {l} must be a bool tensor of shape {want} (out, in), "
                                 f"got {m.dtype} {tuple(m.shape)}")
    need = arch.num_weights * BYTES_PER_WEIGHT_NODE
    budget = memory_budget() if max_bytes is None else max_bytes
    if need > budget:
        raise ValueError(f"architecture {list(arch.sizes)} has {arch.num_weights:,} weights: its graph alone needs "
                         f"about {need / 2 ** 30:.1f} GiB, over the {budget / 2 ** 30:.1f} GiB budget")


def _build(arch: Arch) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """src, dst, layer per weight; layer and position per neuron, for one network."""
    sizes, L = arch.sizes, arch.num_layers
    base = [0]
    for s in sizes:
        base.append(base[-1] + s)
    bias_id = [base[-1] + l for l in range(L)]
    src, dst, layer = [], [], []
    for l in range(L):
        n_in, n_out = sizes[l], sizes[l + 1]
        s = torch.arange(n_in).repeat(n_out) + base[l]              # row-major [out, in]: source cycles fastest
        d = torch.arange(n_out).repeat_interleave(n_in) + base[l + 1]
        mask = arch.mask(l)
        if mask is not None:
            keep = mask.flatten()
            s, d = s[keep], d[keep]
        src.append(s), dst.append(d)
        if arch.bias:
            src.append(torch.full((n_out,), bias_id[l])), dst.append(torch.arange(n_out) + base[l + 1])
        layer.append(torch.full((len(s) + (n_out if arch.bias else 0),), l))
    neuron_layer = torch.cat([torch.full((s,), l) for l, s in enumerate(sizes)]
                             + ([torch.arange(L)] if arch.bias else []))
    neuron_pos = torch.cat([torch.arange(s) for s in sizes]
                           + ([torch.tensor(sizes[:-1])] if arch.bias else []))  # bias unit sits after the inputs
    return torch.cat(src), torch.cat(dst), torch.cat(layer), neuron_layer, neuron_pos


class WeightGraph:
    """A batch of one or more feed-forward networks seen as a graph over their weights.

    Attributes:
        src, dst: ``LongTensor [E]`` source / target neuron of every weight.
        layer: ``LongTensor [E]`` linear-layer index of every weight within its network.
        neuron_layer, neuron_pos: ``LongTensor [N]`` layer and position of every neuron (bias unit of layer ``l``:
            layer ``l``, position ``sizes[l]``).
        ptr_w, ptr_n: ``LongTensor [B + 1]`` weight-node and neuron offsets of the ``B`` member networks.
        archs: the members' :class:`Arch`.
    """

    def __init__(self, archs: Sequence[Arch], src: Tensor, dst: Tensor, layer: Tensor,
                 neuron_layer: Tensor, neuron_pos: Tensor, ptr_w: Tensor, ptr_n: Tensor):
        self.archs = tuple(archs)
        self.src, self.dst, self.layer = src, dst, layer
        self.neuron_layer, self.neuron_pos = neuron_layer, neuron_pos
        self.ptr_w, self.ptr_n = ptr_w, ptr_n

    # ---- construction ------------------------------------------------------------------------------------------
    @classmethod
    def from_arch(cls, arch: Arch) -> "WeightGraph":
        _check_arch(arch)
        src, dst, layer, nl, npos = _build(arch)
        return cls([arch], src, dst, layer, nl, npos, torch.tensor([0, len(src)]),
                   torch.tensor([0, arch.num_neurons]))

    @classmethod
    def from_sizes(cls, sizes: Sequence[int], bias: bool = True, activation: str = "relu",
                   masks: Sequence[Tensor | None] | None = None,
                   output_activation: str | None = None, mean_field: float | None = None) -> "WeightGraph":
        """An MLP ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between layers and raw outputs (logits).

        ``masks`` (optional) gives per linear layer a bool ``[out, in]`` connectivity mask (``None`` = dense);
        missing connections are not nodes of the graph. ``mean_field``: see :class:`Arch`.
        """
        sizes = tuple(int(s) for s in sizes)
        L = len(sizes) - 1
        hidden = tuple((activation,) for _ in range(L - 1))
        last = ((output_activation,) if output_activation else (),) if L >= 1 else ()
        return cls.from_arch(Arch(sizes, bias, hidden + last, None if masks is None else tuple(masks),
                                  None if mean_field is None else float(mean_field)))

    # ---- sizes -------------------------------------------------------------------------------------------------
    @property
    def num_weights(self) -> int:
        return int(self.src.numel())

    @property
    def num_neurons(self) -> int:
        return int(self.ptr_n[-1])

    @property
    def num_graphs(self) -> int:
        return len(self.archs)

    @property
    def device(self) -> torch.device:
        return self.src.device

    @cached_property
    def in_degree(self) -> Tensor:
        """``[N]`` number of weights whose target is each neuron, ``|In(n)|``."""
        return torch.bincount(self.dst, minlength=self.num_neurons)

    @cached_property
    def out_degree(self) -> Tensor:
        """``[N]`` number of weights whose source is each neuron, ``|Out(n)|``."""
        return torch.bincount(self.src, minlength=self.num_neurons)

    @cached_property
    def batch_w(self) -> Tensor:
        """``[E]`` index of the member network of every weight node (PyG's ``batch`` vector)."""
        sizes = self.ptr_w[1:] - self.ptr_w[:-1]
        return torch.repeat_interleave(torch.arange(self.num_graphs, device=self.device), sizes)

    @cached_property
    def hidden_w(self) -> Tensor:
        """``[E]`` bool: the weights and biases of every layer but each member network's readout."""
        last = torch.tensor([a.num_layers - 1 for a in self.archs], device=self.device)[self.batch_w]  # [E]
        return self.layer != last

    @cached_property
    def dense_runs(self) -> tuple[list[tuple], Tensor]:
        """Block structure for the fast paths: ``(runs, sparse_nodes)``.

        A run is ``(w0, n0, k, E_a, N_a, blocks)``: ``k`` consecutive members of one architecture starting at
        weight node ``w0`` and neuron ``n0``, each with ``E_a`` weights and ``N_a`` neurons. A block
        ``(start, out, in, src_base, dst_base)`` is an unmasked weight matrix (or bias vector, ``in = 1``) whose
        node ``start + j * in + i`` joins neuron ``src_base + i`` to ``dst_base + j`` (``src_base`` is the bias
        unit for a bias block). ``sparse_nodes`` lists the nodes of masked layers, which use gathers instead.
        """
        runs, sparse = [], []
        ptr_w, ptr_n = self.ptr_w.tolist(), self.ptr_n.tolist()
        b = 0
        while b < self.num_graphs:
            arch, k = self.archs[b], 1
            while b + k < self.num_graphs and self.archs[b + k] == arch:
                k += 1
            sizes, blocks, off = arch.sizes, [], 0
            base = [sum(sizes[:l]) for l in range(len(sizes))]
            for l, (n_w, n_b) in enumerate(arch.layer_counts()):
                n_in, n_out = sizes[l], sizes[l + 1]
                if arch.mask(l) is None:
                    blocks.append((off, n_out, n_in, base[l], base[l + 1]))
                else:
                    for m in range(k):
                        sparse.append(torch.arange(n_w) + ptr_w[b + m] + off)
                off += n_w
                if n_b:
                    blocks.append((off, n_out, 1, sum(sizes) + l, base[l + 1]))
                    off += n_b
            runs.append((ptr_w[b], ptr_n[b], k, arch.num_weights, arch.num_neurons, blocks))
            b += k
        nodes = torch.cat(sparse) if sparse else torch.zeros(0, dtype=torch.long)
        return runs, nodes.to(self.device)

    def to(self, device) -> "WeightGraph":
        t = [x.to(device) for x in (self.src, self.dst, self.layer, self.neuron_layer, self.neuron_pos,
                                    self.ptr_w, self.ptr_n)]
        return WeightGraph(self.archs, *t)

    def split(self, x: Tensor) -> list[Tensor]:
        """Split a node-level tensor ``[E, ...]`` into one tensor per member network."""
        if x.shape[0] != self.num_weights:
            raise ValueError(f"expected {self.num_weights} rows (one per weight), got {x.shape[0]}")
        return list(torch.split(x, (self.ptr_w[1:] - self.ptr_w[:-1]).tolist()))

    def unbatch(self) -> list["WeightGraph"]:
        """One single-network graph per member (pairs with :meth:`split`)."""
        return [WeightGraph.from_arch(a).to(self.device) for a in self.archs]

    def line_graph(self, neighbourhood: str = DEFAULT_NEIGHBOURHOOD,
                   max_bytes: float = 2 ** 30) -> tuple[Tensor, Tensor]:
        """Explicit line-graph edges ``(edge_index_f, edge_index_b)``, each ``[2, M]`` (row 0 neighbour, row 1 node).

        Raises ``ValueError`` when the two index tensors together would exceed ``max_bytes``.
        """
        from .line_graph import line_graph
        return line_graph(self, neighbourhood, max_bytes)

    def __repr__(self) -> str:
        archs = ", ".join("-".join(map(str, a.sizes)) + ("*" if a.masks is not None else "") for a in self.archs[:4])
        more = f", ... ({self.num_graphs} nets)" if self.num_graphs > 4 else ""
        return f"WeightGraph([{archs}{more}], num_weights={self.num_weights}, num_neurons={self.num_neurons})"


def batch(graphs: Sequence[WeightGraph]) -> WeightGraph:
    """Combine graphs (of any architectures) into one disjoint graph; ``graph.split(x)`` undoes it."""
    graphs = list(graphs)
    if not graphs:
        raise ValueError("batch() needs at least one graph")
    n_off = torch.cumsum(torch.tensor([0] + [g.num_neurons for g in graphs[:-1]]), 0).tolist()
    w_off = torch.cumsum(torch.tensor([0] + [g.num_weights for g in graphs[:-1]]), 0).tolist()
    ptr_w = torch.cat([torch.tensor([0])] + [g.ptr_w[1:].cpu() + o for g, o in zip(graphs, w_off)])
    ptr_n = torch.cat([torch.tensor([0])] + [g.ptr_n[1:].cpu() + o for g, o in zip(graphs, n_off)])
    dev = graphs[0].device
    return WeightGraph([a for g in graphs for a in g.archs],
                       torch.cat([g.src + o for g, o in zip(graphs, n_off)]),
                       torch.cat([g.dst + o for g, o in zip(graphs, n_off)]),
                       torch.cat([g.layer for g in graphs]),
                       torch.cat([g.neuron_layer for g in graphs]),
                       torch.cat([g.neuron_pos for g in graphs]),
                       ptr_w.to(dev), ptr_n.to(dev))


def repeat(graph: WeightGraph, n: int, max_bytes: int | None = None) -> WeightGraph:
    """``n`` copies of ``graph`` as one disjoint batch (a batch of independently grown networks). The batch's
    index tensors (about 48 bytes per weight) over ``max_bytes`` (default: half of this machine's memory) are
    refused with one ``ValueError`` before anything is allocated."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}")
    need, budget = 48 * n * graph.num_weights, memory_budget() if max_bytes is None else max_bytes
    if need > budget:
        raise ValueError(f"{n:,} copies of a {graph.num_weights:,}-weight graph need about {need / 2 ** 30:.1f} GiB "
                         f"of indices, over the {budget / 2 ** 30:.1f} GiB budget")
    return batch([graph] * n)
