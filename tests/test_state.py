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


def codes(graph, h):
    n_flags, d_src, d_dst = split_hidden(h.shape[1])
    return h[:, :n_flags], h[:, n_flags:n_flags + d_src], h[:, n_flags + d_src:]


def test_positional_codes_tell_classes_apart_and_flag_inputs_biases_outputs():
    g = graphnca.WeightGraph.from_sizes([4, 10, 3])
    flags, src, dst = codes(g, graphnca.positional_hidden(g, 8))
    last = g.layer == 1
    assert torch.unique(dst[last], dim=0).shape[0] == 3                   # one code per output class
    assert torch.unique(graphnca.positional_hidden(g, 8), dim=0).shape[0] == g.num_weights
    bias = g.src >= 14                                                    # the two bias units follow the neurons
    assert torch.equal(flags[:, 0].bool(), (g.layer == 0) & ~bias)       # source is an input
    assert torch.equal(flags[:, 1].bool(), bias)                          # source is a bias unit
    assert torch.equal(flags[:, 2].bool(), last)                          # target is an output
    assert (src[bias] == 0).all()


def test_positional_codes_depend_on_relative_position_only():
    # hidden unit 1 of 10 and unit 7 of 50 sit at the same relative position (0.15): the same code at any width
    a, b = graphnca.WeightGraph.from_sizes([4, 10, 3]), graphnca.WeightGraph.from_sizes([4, 50, 3])
    _, _, dst_a = codes(a, graphnca.positional_hidden(a, 24))
    _, _, dst_b = codes(b, graphnca.positional_hidden(b, 24))
    torch.testing.assert_close(dst_a[(a.dst == 4 + 1) & (a.src == 0)], dst_b[(b.dst == 4 + 7) & (b.src == 0)])
    # and no layer index: hidden -> hidden weights of a 2- and a 3-hidden-layer network look alike
    c, d = graphnca.WeightGraph.from_sizes([4, 6, 6, 3]), graphnca.WeightGraph.from_sizes([4, 6, 6, 6, 3])
    hc, hd = graphnca.positional_hidden(c, 12), graphnca.positional_hidden(d, 12)
    torch.testing.assert_close(hc[c.layer == 1], hd[d.layer == 1])
    torch.testing.assert_close(hc[c.layer == 1], hd[d.layer == 2])


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
