import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.nn import MessagePassing

import graphnca
from graphnca.nn import MetaNCAConv
from graphnca.testing import assert_permutation_equivariant

from ..strategies import graphs


def _randomised(conv):
    for p in conv.parameters():  # the zero-initialised last layer would make every check trivial
        torch.nn.init.normal_(p, std=0.3)
    return conv


def test_is_message_passing_and_starts_as_identity():
    conv = MetaNCAConv(hidden_size=4)
    assert isinstance(conv, MessagePassing)
    g = graphnca.WeightGraph.from_sizes([3, 4, 2])
    x = torch.randn(g.num_weights, 5)
    assert torch.equal(conv(x, graph=g), x)


@settings(max_examples=25, deadline=None)
@given(graphs(), st.sampled_from(["incident", "consecutive", "siblings"]), st.sampled_from(["mean", "mean+product"]))
def test_hub_path_equals_plain_pyg_path(g, neighbourhood, aggregation):
    conv = _randomised(MetaNCAConv(hidden_size=3, widths=(16, 8), neighbourhood=neighbourhood,
                                   aggregation=aggregation)).eval()
    x = torch.randn(g.num_weights, 4)
    ei_f, ei_b = g.line_graph(neighbourhood)
    ref = conv(x, ei_f, ei_b)
    torch.testing.assert_close(conv(x, graph=g), ref, atol=1e-5, rtol=1e-5)   # autograd path
    with torch.no_grad():                                                     # fused no-grad path
        torch.testing.assert_close(conv(x, graph=g), ref, atol=1e-5, rtol=1e-5)
    # and both equal the rule applied to the materialised perception
    p = graphnca.perceive(g, x[:, 0], x[:, 1:], neighbourhood, aggregation=aggregation)
    torch.testing.assert_close(conv(x, graph=g), x + conv.rule(p), atol=1e-5, rtol=1e-5)


def test_fused_path_on_a_mixed_batch_with_masks():
    conv = _randomised(MetaNCAConv(hidden_size=3)).eval()
    m = [torch.rand(5, 4) < 0.5, None, torch.rand(2, 3) < 0.5]
    parts = [graphnca.WeightGraph.from_sizes([4, 5, 3, 2], masks=m), graphnca.WeightGraph.from_sizes([4, 5, 2])]
    g = graphnca.batch([parts[0], parts[1], parts[1], parts[0]])
    assert len(g.dense_runs[0]) == 3 and g.dense_runs[1].numel() == 2 * int(m[0].sum() + m[2].sum())
    x = torch.randn(g.num_weights, 4)
    with torch.no_grad():
        torch.testing.assert_close(conv(x, graph=g), conv(x, *g.line_graph()), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("neighbourhood", ["incident", "consecutive", "siblings"])
def test_permutation_equivariance(neighbourhood):
    conv = _randomised(MetaNCAConv(hidden_size=2, neighbourhood=neighbourhood))
    g = graphnca.batch([graphnca.WeightGraph.from_sizes([3, 5, 4, 2]), graphnca.WeightGraph.from_sizes([2, 6, 2])])
    assert_permutation_equivariant(conv, g, torch.randn(g.num_weights, 3))


def test_equivariance_helper_catches_a_broken_layer():
    """The helper must fail on a layer that is not equivariant (here: it sees the absolute node index)."""
    class Broken(MetaNCAConv):
        def forward(self, x, *args, **kwargs):
            return super().forward(x, *args, **kwargs) + torch.arange(x.shape[0]).unsqueeze(1) * 1e-2
    conv = _randomised(Broken(hidden_size=1))
    g = graphnca.WeightGraph.from_sizes([2, 6, 2])
    with pytest.raises(AssertionError):
        assert_permutation_equivariant(conv, g, torch.randn(g.num_weights, 2))


def test_fire_mask_training_only():
    conv = _randomised(MetaNCAConv(hidden_size=1, fire_rate=0.5))
    g = graphnca.WeightGraph.from_sizes([20, 20, 5])
    x = torch.randn(g.num_weights, 2)
    changed = (conv(x, graph=g) != x).any(1).float().mean().item()
    assert 0.35 < changed < 0.65
    conv.eval()
    assert (conv(x, graph=g) != x).any(1).all()


@pytest.mark.parametrize("kwargs, match", [(dict(fire_rate=0.0), "fire_rate"),
                                           (dict(neighbourhood="all"), "unknown neighbourhood"),
                                           (dict(widths=()), "positive width")])
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MetaNCAConv(**kwargs)


def test_bad_inputs():
    conv = MetaNCAConv(hidden_size=4)
    g = graphnca.WeightGraph.from_sizes([3, 2])
    with pytest.raises(ValueError, match="H = 4"):
        conv(torch.zeros(g.num_weights, 3), graph=g)
    with pytest.raises(ValueError, match="graph has 8 weights"):
        conv(torch.zeros(7, 5), graph=g)
    with pytest.raises(ValueError, match="needs either"):
        conv(torch.zeros(8, 5))


@settings(max_examples=25, deadline=None)
@given(graphs(), st.sampled_from(["incident", "consecutive"]), st.integers(0, 3),
       st.sampled_from(["mean", "mean+product"]))
def test_gradients_equal_the_materialised_perception(g, neighbourhood, seed, aggregation):
    """The step that never builds the perception has the gradients of the rule on the materialised one."""
    torch.manual_seed(seed)
    conv = _randomised(MetaNCAConv(hidden_size=3, widths=(16, 8), neighbourhood=neighbourhood, deadzone=0.1,
                                   aggregation=aggregation)).eval()
    x = torch.randn(g.num_weights, 4, requires_grad=True)
    w_out = torch.randn(g.num_weights, 4)

    def grads(out):
        return torch.autograd.grad((out * w_out).sum(), [x, *conv.parameters()])
    fast = grads(conv(x, graph=g))
    p = graphnca.perceive(g, x[:, 0], x[:, 1:], neighbourhood, engine="explicit",   # PyG's own aggregation
                          aggregation=aggregation)
    ref = grads(x + conv.rule(p))
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
