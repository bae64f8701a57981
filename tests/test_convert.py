import pytest
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, prune

import graphnca
from graphnca.testing import assert_round_trip


def test_from_sequential_order_is_parameters_to_vector():
    m = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    g, w = graphnca.from_sequential(m)
    assert torch.equal(w, parameters_to_vector(m.parameters()).detach())
    assert g.archs[0].sizes == (5, 4, 3, 2)
    assert g.archs[0].activations == (("relu",), ("tanh",), ())


@pytest.mark.parametrize("acts", [
    [nn.ReLU(), nn.Tanh()], [nn.Sigmoid(), nn.GELU()], [nn.Identity(), nn.GELU(approximate="tanh")],
    [nn.LeakyReLU(0.2), nn.ELU(alpha=0.5)], [nn.SiLU(), nn.Softplus(beta=2.0)],
])
@pytest.mark.parametrize("bias", [True, False])
def test_exact_round_trip(acts, bias):
    m = nn.Sequential(nn.Linear(6, 5, bias=bias), acts[0], nn.Linear(5, 4, bias=bias), acts[1],
                      nn.Linear(4, 3, bias=bias), nn.Sigmoid())
    assert_round_trip(m, torch.randn(11, 6))


def test_task_forward_matches_module():
    m = nn.Sequential(nn.Linear(6, 5), nn.GELU(), nn.Linear(5, 3))
    g, w = graphnca.from_sequential(m)
    x = torch.randn(9, 6)
    torch.testing.assert_close(graphnca.task_forward(g, w, x)[0], m(x), atol=1e-6, rtol=1e-6)


def test_masked_graph_converts_with_exact_zeros_that_stay_zero():
    mask = torch.rand(4, 6) < 0.5
    g = graphnca.WeightGraph.from_sizes([6, 4, 2], masks=[mask, None])
    w = torch.randn(g.num_weights)
    m = graphnca.to_sequential(g, w)
    assert (m[0].weight[~mask] == 0).all()
    opt = torch.optim.Adam(m.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        m(torch.randn(8, 6)).pow(2).sum().backward()
        opt.step()
    assert (m[0].weight[~mask] == 0).all() and (m[0].weight[mask] != 0).all()
    g2, w2 = graphnca.from_sequential(graphnca.to_sequential(g, w))
    assert torch.equal(w2, w) and g2.archs[0].key() == g.archs[0].key()
    x = torch.randn(5, 6)
    torch.testing.assert_close(graphnca.task_forward(g, w, x)[0], graphnca.to_sequential(g, w)(x))


def test_pruned_model_round_trip():
    m = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    prune.random_unstructured(m[0], "weight", amount=0.5)
    assert_round_trip(m, torch.randn(3, 6))


@pytest.mark.parametrize("model, match", [
    (nn.Sequential(nn.Linear(3, 2), nn.Dropout(), nn.Linear(2, 1)), r"unsupported module 1 \(Dropout\)"),
    (nn.Sequential(nn.Linear(3, 2), nn.Conv1d(1, 1, 1)), r"unsupported module 1 \(Conv1d\)"),
    (nn.Sequential(nn.ReLU(), nn.Linear(3, 2)), r"module 0 \(ReLU\).*start with nn.Linear"),
    (nn.Sequential(nn.Linear(3, 2), nn.Linear(3, 2)), r"module 1 \(Linear\) takes 3 features"),
    (nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2, bias=False)), "agree on bias"),
    (nn.Sequential(), "no nn.Linear"),
    (nn.Linear(3, 2), "expected an nn.Sequential"),
])
def test_unsupported_models_raise(model, match):
    with pytest.raises(ValueError, match=match):
        graphnca.from_sequential(model)


def test_to_sequential_errors():
    g = graphnca.WeightGraph.from_sizes([3, 2])
    with pytest.raises(ValueError, match="must have shape"):
        graphnca.to_sequential(g, torch.zeros(5))
    with pytest.raises(ValueError, match="NaN/Inf"):
        graphnca.to_sequential(g, torch.full((8,), float("nan")))
    with pytest.raises(ValueError, match="holds 2 networks"):
        graphnca.to_sequential(graphnca.repeat(g, 2), torch.zeros(16))
