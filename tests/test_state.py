import pytest
import torch

import graphnca
from graphnca.state import split_hidden


@pytest.mark.parametrize("hidden_init", ["positional", "random", "zeros"])
@pytest.mark.parametrize("weight_init", ["kaiming", "xavier", "zeros"])
def test_shapes(hidden_init, weight_init):
    g = graphnca.batch([graphnca.WeightGraph.from_sizes([784, 10, 10]), graphnca.WeightGraph.from_sizes([784, 5, 10])])
    cfg = graphnca.InitConfig(weight_init=weight_init, hidden_init=hidden_init, input_shape=(28, 28))
    s = graphnca.init_state(g, 8, cfg, torch.Generator().manual_seed(0))
    assert s.w.shape == (g.num_weights,) and s.h.shape == (g.num_weights, 8)
    assert torch.isfinite(s.h).all()


def test_positional_codes_break_symmetry_and_are_architecture_independent():
    a, b = graphnca.WeightGraph.from_sizes([4, 10, 3]), graphnca.WeightGraph.from_sizes([4, 30, 3])
    ha, hb = graphnca.positional_hidden(a, 8), graphnca.positional_hidden(b, 8)
    d_src, d_dst, _ = split_hidden(8)
    # every weight into the output layer gets a distinct code per output class...
    last = a.layer == 1
    assert torch.unique(ha[last][:, d_src:d_src + d_dst], dim=0).shape[0] == 3
    # ...and the first-layer codes of input i -> hidden 0 are the same whatever the hidden width
    assert torch.equal(ha[:4], hb[:4])
    assert torch.unique(ha, dim=0).shape[0] == a.num_weights


def test_kaiming_scale():
    g = graphnca.WeightGraph.from_sizes([400, 300])
    w = graphnca.init_state(g, 1, graphnca.InitConfig(weight_scale=1.0)).w
    assert abs(w.std().item() - (2 / 401) ** 0.5) < 0.01


def test_bad_init_names():
    g = graphnca.WeightGraph.from_sizes([2, 2])
    with pytest.raises(ValueError, match="unknown weight_init"):
        graphnca.init_state(g, 2, graphnca.InitConfig(weight_init="he"))
    with pytest.raises(ValueError, match="unknown hidden_init"):
        graphnca.init_state(g, 2, graphnca.InitConfig(hidden_init="noise"))
