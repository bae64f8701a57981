import pytest
import torch

from graphnca.rule import LocalRule, RuleConfig


def _last(rule):
    return rule.rest[-1]


def test_starts_as_zero_update():
    rule = LocalRule(hidden_size=3, widths=(8,))
    assert torch.equal(rule(torch.randn(5, rule.in_dim)), torch.zeros(5, 4))


def test_deadzone_gives_exact_zeros_and_shrinks_the_rest():
    rule = LocalRule(hidden_size=2, widths=(8,), step_size=0.1, deadzone=0.5)
    free = LocalRule(hidden_size=2, widths=(8,), step_size=0.1)
    for p in rule.parameters():
        torch.nn.init.normal_(p, std=0.5)
    free.load_state_dict(rule.state_dict())
    p = torch.randn(200, rule.in_dim)
    z = rule.rest(rule.first(p))                                  # the MLP's output before the dead zone
    out = rule(p)
    inside = z.abs() <= 0.5
    assert inside.any() and (~inside).any()
    assert torch.equal(out[inside], torch.zeros(int(inside.sum())))
    torch.testing.assert_close(out[~inside], 0.1 * torch.tanh(z[~inside] - 0.5 * z[~inside].sign()))
    assert (out.abs() <= free(p).abs()).all()


def test_deadzone_keeps_gradients_for_the_untrained_rule():
    rule = LocalRule(hidden_size=2, widths=(8,), deadzone=0.1)   # every output starts inside the zone
    loss = (rule(torch.randn(10, rule.in_dim)) - 1).pow(2).mean()
    loss.backward()
    assert _last(rule).weight.grad.abs().sum() > 0                # straight-through: it can still learn


def test_from_config_and_bad_deadzone():
    assert LocalRule.from_config(RuleConfig(deadzone=0.25)).deadzone == 0.25
    with pytest.raises(ValueError, match="deadzone >= 0"):
        LocalRule(deadzone=-0.1)
    with pytest.raises(ValueError, match="deadzone >= 0"):
        LocalRule(deadzone=float("nan"))

