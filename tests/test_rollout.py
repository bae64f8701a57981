import pytest
import torch

import graphnca
from graphnca import State


def _rule(H=4):
    conv = graphnca.MetaNCAConv(hidden_size=H, widths=(16,))
    torch.nn.init.normal_(conv.rule.rest[-1].weight, std=0.1)
    return conv


def test_rollout_is_pure_and_deterministic_under_seed():
    conv, g = _rule(), graphnca.WeightGraph.from_sizes([4, 6, 3])
    s0 = graphnca.init_state(g, 4)
    before = s0.w.clone()
    a = graphnca.rollout(conv, g, s0, 5, generator=torch.Generator().manual_seed(1))
    b = graphnca.rollout(conv, g, s0, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(s0.w, before) and torch.equal(a.w, b.w) and not torch.equal(a.w, s0.w)


@pytest.mark.parametrize("checkpoint", [False, True])
def test_gradient_reaches_rule_parameters(checkpoint):
    conv, g = _rule(), graphnca.WeightGraph.from_sizes([4, 6, 3])
    s = graphnca.rollout(conv, g, graphnca.init_state(g, 4), 6, checkpoint=checkpoint,
                         generator=torch.Generator().manual_seed(0))
    graphnca.task_forward(g, s.w, torch.randn(5, 4)).pow(2).mean().backward()
    for name, p in conv.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_checkpointing_gives_identical_gradients():
    g = graphnca.WeightGraph.from_sizes([4, 6, 3])
    grads = []
    for ck in (False, True):
        torch.manual_seed(0)
        conv = _rule()
        s = graphnca.rollout(conv, g, graphnca.init_state(g, 4), 4, checkpoint=ck,
                             generator=torch.Generator().manual_seed(3))
        s.w.pow(2).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in conv.parameters()]))
    torch.testing.assert_close(grads[0], grads[1])


def test_no_grad_growth_and_local_rule_accepted():
    conv, g = _rule(), graphnca.WeightGraph.from_sizes([4, 6, 3])
    with torch.no_grad():
        s = graphnca.rollout(conv.rule, g, graphnca.init_state(g, 4), 3)
    assert not s.w.requires_grad


def test_rollout_errors():
    conv, g = _rule(4), graphnca.WeightGraph.from_sizes([4, 6, 3])
    with pytest.raises(ValueError, match="hidden size 2 but the rule expects 4"):
        graphnca.rollout(conv, g, graphnca.init_state(g, 2), 1)
    s = graphnca.init_state(g, 4)
    with pytest.raises(ValueError, match="NaN/Inf"):
        graphnca.rollout(conv, g, State(s.w.clone().fill_(float("inf")), s.h), 1)
    with pytest.raises(ValueError, match="graph has"):
        graphnca.rollout(conv, graphnca.WeightGraph.from_sizes([4, 3]), s, 1)
