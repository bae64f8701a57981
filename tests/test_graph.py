import pytest
import torch
from hypothesis import given, settings

import graphnca
from graphnca.graph import Arch

from .strategies import graphs


def test_from_sizes_counts_and_order():
    g = graphnca.WeightGraph.from_sizes([784, 50, 50, 10])
    assert g.num_weights == 784 * 50 + 50 + 50 * 50 + 50 + 50 * 10 + 10
    assert g.num_neurons == 784 + 50 + 50 + 10 + 3
    # parameters_to_vector order: first layer weight row-major, so node 1 is (input 1 -> hidden 0)
    assert (g.src[1].item(), g.dst[1].item()) == (1, 784)
    assert (g.src[784].item(), g.dst[784].item()) == (0, 785)
    # bias of layer 0 comes right after its weight matrix, from the bias unit
    bias_unit = 784 + 50 + 50 + 10
    assert (g.src[784 * 50] == bias_unit).item() and g.dst[784 * 50].item() == 784
    assert g.src.dtype == torch.long and g.dst.shape == (g.num_weights,)


def test_bias_false_and_degrees():
    g = graphnca.WeightGraph.from_sizes([3, 4, 2], bias=False)
    assert g.num_weights == 12 + 8 and g.num_neurons == 9
    assert g.in_degree.tolist() == [0, 0, 0, 3, 3, 3, 3, 4, 4]
    assert g.out_degree.tolist() == [4, 4, 4, 2, 2, 2, 2, 0, 0]


@settings(max_examples=30, deadline=None)
@given(graphs())
def test_batch_split_round_trip(g):
    g2 = graphnca.WeightGraph.from_sizes([3, 2])
    b = graphnca.batch([g, g2, g])
    assert b.num_weights == 2 * g.num_weights + g2.num_weights
    assert b.num_neurons == 2 * g.num_neurons + g2.num_neurons
    x = torch.randn(b.num_weights)
    parts = b.split(x)
    assert [p.numel() for p in parts] == [g.num_weights, g2.num_weights, g.num_weights]
    assert torch.equal(torch.cat(parts), x)
    # member 2's edges are member 0's edges shifted by the neurons before it
    off_w, off_n = int(b.ptr_w[2]), int(b.ptr_n[2])
    assert torch.equal(b.src[off_w:] - off_n, g.src) and torch.equal(b.dst[off_w:] - off_n, g.dst)
    assert [u.archs[0] for u in b.unbatch()] == list(b.archs)


def test_masks_drop_nodes():
    m0 = torch.tensor([[True, False, True], [False, False, True]])
    g = graphnca.WeightGraph.from_sizes([3, 2, 1], masks=[m0, None])
    assert g.num_weights == 3 + 2 + 2 + 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(sizes=[4]), "at least two"),
    (dict(sizes=[4, 0, 2]), "at least two positive"),
    (dict(sizes=[4, 3], masks=[torch.ones(4, 3, dtype=torch.bool)]), "shape"),
    (dict(sizes=[4, 3], masks=[torch.ones(3, 4)]), "bool"),
    (dict(sizes=[4, 3, 2], masks=[None]), "expected 2 masks"),
    (dict(sizes=[4, 3, 2], activation="swishy"), "unknown activation"),
])
def test_bad_sizes_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        graphnca.WeightGraph.from_sizes(**kwargs)


def test_split_and_batch_errors():
    g = graphnca.WeightGraph.from_sizes([2, 2])
    with pytest.raises(ValueError, match="one per weight"):
        g.split(torch.zeros(3))
    with pytest.raises(ValueError, match="at least one graph"):
        graphnca.batch([])


def test_arch_dict_round_trip():
    m0 = torch.rand(2, 3) < 0.5
    a = Arch((3, 2, 1), True, (("relu",), ()), (m0, None))
    assert Arch.from_dict(a.to_dict()).key() == a.key()


def test_hidden_weights_are_every_layer_but_the_readout():
    g = graphnca.batch([graphnca.WeightGraph.from_sizes([3, 4, 3]), graphnca.WeightGraph.from_sizes([3, 5, 2, 3])])
    mask = g.hidden_w
    # [3, 4, 3]: 12 + 4 hidden, 12 + 3 readout; [3, 5, 2, 3]: 15 + 5 + 10 + 2 hidden, 6 + 3 readout
    assert mask.tolist() == [True] * 16 + [False] * 15 + [True] * 32 + [False] * 9
