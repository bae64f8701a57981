"""Reference learners: backprop by autograd, and per-example credit through feedback weights."""
import pytest
import torch

import graphnca
from graphnca.baselines import LEARNERS, backward_credit, direction, feedback_direction, loss_gradient, train_local
from graphnca.conditioning import DataStream
from graphnca.grow import loss_and_accuracy


def test_feedback_through_the_forward_weights_is_backprop():
    g = graphnca.repeat(graphnca.WeightGraph.from_sizes([5, 7, 6, 3], activation="tanh"), 2)
    w = torch.randn(g.num_weights) * 0.5
    x, y = torch.randn(9, 5), torch.randint(3, (9,))
    got = feedback_direction(g.archs[0], w.view(2, -1), w.view(2, -1), x, y).flatten()
    torch.testing.assert_close(got, loss_gradient(g, w, x, y), atol=1e-6, rtol=1e-5)


def test_sign_learner_uses_sign_feedback_and_backprop_matches_autograd():
    g = graphnca.repeat(graphnca.WeightGraph.from_sizes([4, 6, 3]), 3)
    w = torch.randn(g.num_weights)
    x, y = torch.randn(8, 4), torch.randint(3, (8,))
    torch.testing.assert_close(direction("backprop", g, w, x, y), loss_gradient(g, w, x, y))
    sign = direction("sign", g, w, x, y)
    assert sign.shape == w.shape and torch.isfinite(sign).all()
    # the readout's credit is the error itself, whatever the feedback: its rows agree with backprop
    out = g.layer == 1
    torch.testing.assert_close(sign[out], loss_gradient(g, w, x, y)[out], atol=1e-6, rtol=1e-5)


def test_normalised_credit_divides_by_the_root_fan_out():
    arch = graphnca.WeightGraph.from_sizes([3, 4, 9]).archs[0]
    fb = torch.randn(1, arch.num_weights)
    err, slopes = torch.randn(1, 5, 9), [torch.ones(1, 5, 4), torch.ones(1, 5, 9)]
    plain = backward_credit(arch, fb, err, slopes)
    norm = backward_credit(arch, fb, err, slopes, normalise=True)
    torch.testing.assert_close(norm[0], plain[0] / 3.0)
    torch.testing.assert_close(norm[1], plain[1])


@pytest.mark.parametrize("learner", LEARNERS)
def test_every_learner_lowers_the_loss_on_the_same_batches(learner):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    graph = graphnca.WeightGraph.from_sizes([4, 16, 3], activation="tanh")
    before, _ = loss_and_accuracy(*train_local(learner, graph, 2, 0, DataStream(x, y, 32, gen), 0.5,
                                               torch.Generator().manual_seed(1)), x, y)
    big, w = train_local(learner, graph, 2, 60, DataStream(x, y, 32, gen), 0.5, torch.Generator().manual_seed(1))
    after, acc = loss_and_accuracy(big, w, x, y)
    assert (after < 0.8 * before).all() and (acc > 0.6).all()


def test_unknown_learner():
    g = graphnca.WeightGraph.from_sizes([2, 2])
    with pytest.raises(ValueError, match="unknown learner 'hebb'"):
        direction("hebb", g, torch.zeros(g.num_weights), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))
