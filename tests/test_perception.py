import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnca

from .strategies import graphs

NEIGHBOURHOODS = ["incident", "consecutive", "siblings"]


@settings(max_examples=40, deadline=None)
@given(graphs(), st.sampled_from(NEIGHBOURHOODS), st.integers(0, 5), st.sampled_from(["mean", "mean+product"]))
def test_hub_equals_explicit(g, neighbourhood, H, aggregation):
    w, h = torch.randn(g.num_weights), torch.randn(g.num_weights, H)
    hub = graphnca.perceive(g, w, h, neighbourhood, aggregation=aggregation)
    ref = graphnca.perceive(g, w, h, neighbourhood, engine="explicit", aggregation=aggregation)
    assert hub.shape == (g.num_weights, (3 if aggregation == "mean" else 5) * (1 + H))
    torch.testing.assert_close(hub, ref, atol=1e-5, rtol=0)


def test_product_means_are_weighted_by_each_neighbours_own_weight():
    g = graphnca.WeightGraph.from_sizes([1, 2, 1], bias=False)   # a -> {h0, h1} -> o: 4 weights
    w, h = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([[1.0], [1.0], [10.0], [20.0]])
    p = graphnca.perceive(g, w, h, "consecutive", aggregation="mean+product")          # [E, 5 * 2]
    # weight a->h0 looks forward into Out(h0) = {h0->o} (w 3, h 10): means of [w, h] and of w * [w, h]
    assert p[0, 2:4].tolist() == [3.0, 10.0] and p[0, 4:6].tolist() == [9.0, 30.0]
    # the plain mean cannot tell h0 from h1 by its outgoing weights' state, the product mean can
    assert p[1, 4:6].tolist() == [16.0, 80.0]
    with pytest.raises(ValueError, match="unknown aggregation 'max'"):
        graphnca.perceive(g, w, h, aggregation="max")


def test_row_layout_and_empty_means():
    g = graphnca.WeightGraph.from_sizes([2, 1], bias=False)  # two weights into one output neuron
    w, h = torch.tensor([1.0, 3.0]), torch.tensor([[10.0], [30.0]])
    p = graphnca.perceive(g, w, h, "consecutive")
    # forward = Out(output neuron) = empty -> 0; backward = In(input neuron) = empty -> 0
    assert p.tolist() == [[1, 10, 0, 0, 0, 0], [3, 30, 0, 0, 0, 0]]
    p = graphnca.perceive(g, w, h, "siblings")   # forward = In(output) = both weights
    assert p.tolist() == [[1, 10, 2, 20, 1, 10], [3, 30, 2, 20, 3, 30]]
    p = graphnca.perceive(g, w, h, "incident")
    assert p[:, 2:4].tolist() == [[2, 20], [2, 20]] and p[:, 4:].tolist() == [[1, 10], [3, 30]]


@pytest.mark.parametrize("engine", ["hub", "explicit"])
def test_gradients_reach_w_and_h(engine):
    g = graphnca.WeightGraph.from_sizes([3, 4, 2])
    w = torch.randn(g.num_weights, requires_grad=True)
    h = torch.randn(g.num_weights, 2, requires_grad=True)
    (graphnca.perceive(g, w, h, engine=engine)[:, 3:] ** 2).sum().backward()
    assert w.grad.abs().sum() > 0 and h.grad.abs().sum() > 0


def test_mixed_batch_equals_separate_calls():
    gs = [graphnca.WeightGraph.from_sizes(s) for s in ([4, 3, 2], [4, 5, 5, 2], [2, 2])]
    b = graphnca.batch(gs)
    w, h = torch.randn(b.num_weights), torch.randn(b.num_weights, 3)
    joint = b.split(graphnca.perceive(b, w, h))
    for g, p, wi, hi in zip(gs, joint, b.split(w), b.split(h)):
        torch.testing.assert_close(p, graphnca.perceive(g, wi, hi), atol=1e-6, rtol=0)


def test_large_graph_hub_only():
    g = graphnca.WeightGraph.from_sizes([784, 100, 100, 10])
    w, h = torch.randn(g.num_weights), torch.randn(g.num_weights, 2)
    assert graphnca.perceive(g, w, h).shape == (g.num_weights, 9)
    with pytest.raises(ValueError, match="memory budget"):
        graphnca.perceive(g, w, h, "incident", engine="explicit")      # 87 M line-graph edges


@pytest.mark.parametrize("w_shape, h_shape, match", [
    ((5,), (8, 2), "w must have shape"), ((8,), (8,), "h must have shape"), ((8,), (7, 2), "h must have shape")])
def test_bad_shapes(w_shape, h_shape, match):
    g = graphnca.WeightGraph.from_sizes([3, 2])
    with pytest.raises(ValueError, match=match):
        graphnca.perceive(g, torch.zeros(w_shape), torch.zeros(h_shape))


def test_unknown_engine():
    g = graphnca.WeightGraph.from_sizes([3, 2])
    with pytest.raises(ValueError, match="unknown perception engine"):
        graphnca.perceive(g, torch.zeros(8), torch.zeros(8, 1), engine="magic")


@settings(max_examples=30, deadline=None)
@given(graphs(), st.integers(1, 3))
def test_neuron_sums_and_edge_gather_are_adjoint_and_differentiable(g, d):
    """<S(x), t> == <x, G(t)>, and autograd through both matches torch's gradcheck in double precision."""
    from graphnca.perception import edge_gather, neuron_sums
    x = torch.randn(g.num_weights, d, dtype=torch.float64)
    t_in, t_out = torch.randn(g.num_neurons, d, dtype=torch.float64), torch.randn(g.num_neurons, d, dtype=torch.float64)
    s_in, s_out = neuron_sums(g, x)
    lhs = (s_in * t_in).sum() + (s_out * t_out).sum()
    rhs = (x * edge_gather(g, t_in, t_out)).sum()
    torch.testing.assert_close(lhs, rhs)
    xg = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: neuron_sums(g, v), (xg,))
    tg = (t_in.clone().requires_grad_(True), t_out.clone().requires_grad_(True))
    assert torch.autograd.gradcheck(lambda a, b: edge_gather(g, a, b), tg)
    assert torch.autograd.gradgradcheck(lambda v: neuron_sums(g, v)[0], (xg,))
