"""Interop with PyG's ``Data`` / ``Batch``: a weight graph as a PyG graph whose nodes are the weights."""
from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data

from .graph import WeightGraph


class WeightData(Data):
    """One network as a PyG ``Data``: ``num_nodes`` = weights; ``src`` / ``dst`` are neuron ids, shifted by each
    graph's ``num_neurons`` when PyG batches them (so ``Batch.from_data_list`` builds the disjoint graph)."""

    def __inc__(self, key, value, *args, **kwargs):
        if key in ("src", "dst"):
            return self.num_neurons
        if key in ("layer", "neuron_layer", "neuron_pos"):
            return 0
        return super().__inc__(key, value, *args, **kwargs)


def to_pyg(graph: WeightGraph) -> list[WeightData]:
    """One :class:`WeightData` per member network (batch them with ``torch_geometric.data.Batch``)."""
    out = []
    for g in graph.unbatch():
        out.append(WeightData(src=g.src, dst=g.dst, layer=g.layer, neuron_layer=g.neuron_layer,
                              neuron_pos=g.neuron_pos, num_neurons=g.num_neurons, num_nodes=g.num_weights,
                              arch=g.archs[0]))
    return out


def from_pyg(data: Data | Batch) -> WeightGraph:
    """The :class:`WeightGraph` of a ``WeightData`` or of a PyG ``Batch`` of them."""
    if not isinstance(data, Batch):
        data = Batch.from_data_list([data])
    archs = data.arch if isinstance(data.arch, list) else [data.arch]
    counts = torch.as_tensor(data.num_neurons).reshape(-1)
    ptr_n = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])
    return WeightGraph(archs, data.src, data.dst, data.layer, data.neuron_layer, data.neuron_pos,
                       data.ptr.cpu(), ptr_n)
