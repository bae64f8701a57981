import torch
from torch_geometric.data import Batch

import graphnca
from graphnca.pyg import from_pyg, to_pyg


def test_pyg_batch_equals_graphnca_batch():
    gs = [graphnca.WeightGraph.from_sizes(s) for s in ([4, 3, 2], [4, 5, 5, 2])]
    mask = [torch.rand(3, 2) < 0.5, None]
    gs.append(graphnca.WeightGraph.from_sizes([2, 3, 2], masks=mask))
    ours = graphnca.batch(gs)
    pyg = Batch.from_data_list([d for g in gs for d in to_pyg(g)])
    back = from_pyg(pyg)
    for name in ("src", "dst", "layer", "neuron_layer", "neuron_pos", "ptr_w", "ptr_n"):
        assert torch.equal(getattr(back, name), getattr(ours, name)), name
    assert back.archs == ours.archs and torch.equal(pyg.batch, ours.batch_w)
    w, h = torch.randn(ours.num_weights), torch.randn(ours.num_weights, 2)
    assert torch.equal(graphnca.perceive(back, w, h), graphnca.perceive(ours, w, h))
    single = from_pyg(to_pyg(gs[0])[0])
    assert torch.equal(single.src, gs[0].src) and single.num_graphs == 1
