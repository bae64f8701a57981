import pytest
import torch

from graphnca import WeightGraph, batch
from graphnca.meta.probe import probe_loss, ridge_readout, with_constant


def labelled(n=64, classes=3, noise=0.3):
    y = torch.arange(n) % classes
    x = torch.nn.functional.one_hot(y, classes).float() + noise * torch.randn(n, classes)
    return x, y


def weights_of(graph, hidden):
    """Weights (and biases) of a [3, 3, 3] network: hidden matrix ``hidden``, everything else random."""
    w = torch.randn(graph.num_weights)
    w[:9] = hidden.flatten()              # the first layer's weight matrix comes first, row-major [out, in]
    w[9:12] = 0.0                         # its biases
    return w


def test_probe_scores_informative_hidden_features_lower():
    g = WeightGraph.from_sizes([3, 3, 3])
    x, y = labelled()
    good = probe_loss(g, weights_of(g, 2 * torch.eye(3)), x, y, ridge=1e-3)
    blind = probe_loss(g, weights_of(g, torch.zeros(3, 3)), x, y, ridge=1e-3)   # constant features
    assert good.shape == blind.shape == (1,)
    assert good.item() < 0.5 * blind.item()
    # a constant feature can only predict the class frequencies: the error is that of the prior (2/9 for 3
    # balanced classes), up to the ridge and the split
    assert blind.item() == pytest.approx(2 / 9, rel=0.05)


def test_probe_gradient_reaches_hidden_weights_only():
    g = WeightGraph.from_sizes([3, 4, 5, 3])
    x, y = labelled()
    w = torch.randn(g.num_weights, requires_grad=True)
    probe_loss(g, w, x, y, ridge=1e-2).sum().backward()
    last = g.layer == g.archs[0].num_layers - 1
    assert torch.all(w.grad[last] == 0)                # the probe replaces the grown readout
    assert w.grad[~last].abs().sum() > 0


def test_probe_batches_mixed_architectures_like_single_networks():
    sizes = ([3, 4, 3], [3, 4, 3], [3, 6, 5, 3])
    graphs = [WeightGraph.from_sizes(s) for s in sizes]
    ws = [torch.randn(gr.num_weights) for gr in graphs]
    x, y = labelled()
    mixed = probe_loss(batch(graphs), torch.cat(ws), x, y, ridge=1e-2)
    alone = torch.cat([probe_loss(gr, w, x, y, ridge=1e-2) for gr, w in zip(graphs, ws)])
    torch.testing.assert_close(mixed, alone)


def test_ridge_readout_solves_the_normal_equations():
    h, t = torch.randn(2, 50, 4), torch.randn(50, 3)
    r = ridge_readout(h, t, ridge=0.1)                  # [2, 5, 3]
    hb = with_constant(h)
    lhs = hb.transpose(1, 2) @ hb / 50 @ r + 0.1 * r
    torch.testing.assert_close(lhs, (hb.transpose(1, 2) @ t / 50).expand(2, -1, -1), rtol=1e-4, atol=1e-5)


def test_probe_bad_input():
    g = WeightGraph.from_sizes([3, 4, 3])
    x, y = labelled()
    w = torch.randn(g.num_weights)
    with pytest.raises(ValueError, match="ridge must be > 0"):
        probe_loss(g, w, x, y, ridge=0.0)
    with pytest.raises(ValueError, match="needs a hidden layer"):
        shallow = WeightGraph.from_sizes([3, 3])
        probe_loss(shallow, torch.randn(shallow.num_weights), x, y, ridge=1e-2)
    with pytest.raises(ValueError, match="N >= 2"):
        probe_loss(g, w, x[:1], y[:1], ridge=1e-2)
    with pytest.raises(ValueError, match="w must have shape"):
        probe_loss(g, w[:-1], x, y, ridge=1e-2)
