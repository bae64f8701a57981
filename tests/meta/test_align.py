import pytest
import torch
import torch.nn.functional as F

from graphnca import WeightGraph, batch
from graphnca.meta.align import alignment_loss, descent_direction
from graphnca.forward import task_forward


def labelled(n=32, d=3, classes=3):
    return torch.randn(n, d), torch.arange(n) % classes


def test_descent_direction_is_each_networks_own_negative_gradient():
    graphs = [WeightGraph.from_sizes(s, activation="tanh") for s in ([3, 4, 3], [3, 6, 5, 3])]
    ws = [torch.randn(g.num_weights) for g in graphs]
    x, y = labelled()
    mixed = descent_direction(batch(graphs), torch.cat(ws), x, y)
    for g, w, part in zip(graphs, ws, batch(graphs).split(mixed)):
        wd = w.clone().requires_grad_(True)
        F.cross_entropy(task_forward(g, wd, x)[0], y).backward()
        torch.testing.assert_close(part, -wd.grad)


def test_alignment_loss_is_zero_along_the_gradient_and_two_against_it():
    g = WeightGraph.from_sizes([3, 4, 4, 3], activation="tanh")
    x, y = labelled()
    w = torch.randn(g.num_weights)
    d = descent_direction(g, w, x, y)
    readout_noise = torch.randn(g.num_weights) * ~g.hidden_w      # the readout's update does not count
    assert alignment_loss(g, w, w + 0.1 * d + readout_noise, x, y).item() == pytest.approx(0.0, abs=1e-5)
    assert alignment_loss(g, w, w - 0.1 * d, x, y).item() == pytest.approx(2.0, abs=1e-5)
    assert alignment_loss(g, w, w + readout_noise, x, y).item() == pytest.approx(1.0)   # no hidden update


def test_alignment_loss_gradient_reaches_the_update_not_the_target():
    g = batch([WeightGraph.from_sizes([3, 4, 3]), WeightGraph.from_sizes([3, 4, 3])])
    x, y = labelled()
    w = torch.randn(g.num_weights)
    nxt = (w + 0.1 * torch.randn(g.num_weights)).requires_grad_(True)
    loss = alignment_loss(g, w, nxt, x, y)
    assert loss.shape == (2,) and torch.all((loss >= 0) & (loss <= 2))
    loss.sum().backward()
    assert torch.all(nxt.grad[~g.hidden_w] == 0) and nxt.grad[g.hidden_w].abs().sum() > 0


def test_alignment_bad_input():
    g = WeightGraph.from_sizes([3, 4, 3])
    x, y = labelled()
    w = torch.randn(g.num_weights)
    with pytest.raises(ValueError, match="w_next must have shape"):
        alignment_loss(g, w, w[:-1], x, y)
    with pytest.raises(ValueError, match="needs a hidden layer"):
        shallow = WeightGraph.from_sizes([3, 3])
        alignment_loss(shallow, torch.randn(12), torch.randn(12), x, y)
