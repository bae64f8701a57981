import pytest
import torch

import graphnca
from graphnca.grow import grow, grow_scheduled, growth_scale, layer_scale
from graphnca.schedules import StepSchedule

from .test_rollout import _rule as random_rule


def _rule():
    return random_rule().eval()                         # synchronous: every weight updates every step


def test_layer_scale_marks_each_networks_output_layer():
    a, b = graphnca.WeightGraph.from_sizes([3, 4, 2]), graphnca.WeightGraph.from_sizes([3, 5, 4, 2])
    g = graphnca.batch([a, b])
    s = layer_scale(g, hidden=0.25, output=2.0)                             # [E, 1]
    assert s.shape == (g.num_weights, 1)
    for i, net in enumerate(g.archs):                 # output weights and biases: 2 * (n_last_in + 1) per network
        part = s[g.ptr_w[i]:g.ptr_w[i + 1], 0]
        assert (part == 2.0).sum() == 2 * (net.sizes[-2] + 1) and (part == 0.25).sum() == len(part) - (part == 2).sum()
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="step scale must be a finite number >= 0"):
            layer_scale(a, hidden=bad, output=1.0)


def test_scaled_growth_moves_each_weight_by_its_multiple():
    """One step with per-weight multipliers k moves every weight k times as far; k = 0 freezes it exactly."""
    conv, g = _rule(), graphnca.WeightGraph.from_sizes([4, 6, 3])
    s0 = graphnca.init_state(g, 4)
    full = graphnca.rollout(conv, g, s0, 1)
    scale = layer_scale(g, hidden=0.0, output=0.5)
    part = graphnca.rollout(conv, g, s0, 1, scale=scale)
    hidden = scale[:, 0] == 0
    assert torch.equal(part.w[hidden], s0.w[hidden]) and torch.equal(part.h[hidden], s0.h[hidden])
    torch.testing.assert_close(part.w[~hidden] - s0.w[~hidden], 0.5 * (full.w[~hidden] - s0.w[~hidden]))
    assert (full.w[~hidden] != s0.w[~hidden]).any()


def test_grow_tiles_one_networks_scale_over_copies():
    conv, g = _rule(), graphnca.WeightGraph.from_sizes([4, 6, 3])
    init = graphnca.InitConfig()
    _, s0 = grow(conv, g, 3, 0, init, torch.Generator().manual_seed(0))          # the same fresh networks
    big, st = grow(conv, g, 3, 4, init, torch.Generator().manual_seed(0), scale=layer_scale(g, 0.0, 1.0))
    frozen = layer_scale(big, 0.0, 1.0)[:, 0] == 0
    assert big.num_graphs == 3 and frozen.sum() == 3 * (4 + 1) * 6
    assert torch.equal(st.w[frozen], s0.w[frozen]) and not torch.equal(st.w[~frozen], s0.w[~frozen])


def test_grow_calls_back_after_every_step():
    """The hook ``graphnca grow`` drives its progress bar with: one call per step, with that step's state."""
    conv, g = _rule(), graphnca.WeightGraph.from_sizes([4, 6, 3])
    seen = []
    _, st = grow(conv, g, 2, 5, graphnca.InitConfig(), torch.Generator().manual_seed(0),
                 callback=lambda t, s: seen.append((t, s.w.clone())))
    assert [t for t, _ in seen] == [1, 2, 3, 4, 5] and torch.equal(seen[-1][1], st.w)


def test_rollout_rejects_bad_scale():
    conv, g = _rule(), graphnca.WeightGraph.from_sizes([4, 6, 3])
    s = graphnca.init_state(g, 4)
    with pytest.raises(ValueError, match="scale must hold 51 finite values >= 0"):
        graphnca.rollout(conv, g, s, 1, scale=torch.ones(50))
    with pytest.raises(ValueError, match="scale must hold 51 finite values >= 0"):
        graphnca.rollout(conv, g, s, 1, scale=-torch.ones(51))
    with pytest.raises(ValueError, match=r"got shape \[51, 2\]"):         # neither per weight nor per channel
        graphnca.rollout(conv, g, s, 1, scale=torch.ones(51, 2))


def test_per_channel_scale_freezes_weights_while_states_evolve():
    """A ``[E, 1 + H]`` scale: weight channel 0 keeps every weight bit-exact, hidden channels at 1 move each state
    exactly as an unscaled step does; ``grow`` tiles it over copies like a per-weight scale."""
    conv, g = _rule(), graphnca.WeightGraph.from_sizes([4, 6, 3])
    s0 = graphnca.init_state(g, 4)
    full = graphnca.rollout(conv, g, s0, 1)
    scale = torch.cat([torch.zeros(g.num_weights, 1), torch.ones(g.num_weights, 4)], 1)     # [E, 1 + H]
    part = graphnca.rollout(conv, g, s0, 1, scale=scale)
    assert torch.equal(part.w, s0.w) and torch.equal(part.h, full.h) and not torch.equal(full.h, s0.h)
    big, st = grow(conv, g, 2, 3, graphnca.InitConfig(), torch.Generator().manual_seed(0), scale=scale)
    _, s_init = grow(conv, g, 2, 0, graphnca.InitConfig(), torch.Generator().manual_seed(0))
    assert torch.equal(st.w, s_init.w) and not torch.equal(st.h, s_init.h)


def test_growth_scale_sets_hidden_states_apart():
    """Per weight unless the hidden states get their own multiple; then channel 0 is the weight's, 1..H the state's."""
    g = graphnca.WeightGraph.from_sizes([3, 4, 2])
    assert torch.equal(growth_scale(g, 5, 0.5), layer_scale(g, 0.5, 0.5))                 # [E, 1]
    assert torch.equal(growth_scale(g, 5, 0.5, 0.0), layer_scale(g, 0.0, 0.5))
    s = growth_scale(g, 5, 0.5, hidden=0.0, hidden_state=0.2)                              # [E, 1 + 5]
    out = layer_scale(g, 0.0, 1.0)[:, 0] == 1
    assert s.shape == (g.num_weights, 6) and torch.equal(s[:, :1], layer_scale(g, 0.0, 0.5))
    assert (s[out, 1:] == 0.5).all() and (s[~out, 1:] == 0.2).all()
    with pytest.raises(ValueError, match="hidden step scale must be a finite number >= 0"):
        growth_scale(g, 5, 0.5, hidden=0.0, hidden_state=-1.0)


def test_grow_scheduled_is_grow_segment_by_segment():
    """A one-segment schedule at k = 1 is exactly :func:`grow`; a second segment grows on from the first one's
    state at k times the multiples (the rule's own step when ``scale`` is ``None``)."""
    conv, g, init = _rule(), graphnca.WeightGraph.from_sizes([4, 6, 3]), graphnca.InitConfig()
    _, one = grow(conv, g, 2, 3, init, torch.Generator().manual_seed(0))
    _, same = grow_scheduled(conv, g, 2, StepSchedule(((1.0, 3),)), init, torch.Generator().manual_seed(0))
    assert torch.equal(one.w, same.w) and torch.equal(one.h, same.h)
    base = layer_scale(g, hidden=0.5, output=1.0)
    for scale in (None, base):
        gen = torch.Generator().manual_seed(0)
        _, first = grow(conv, g, 2, 2, init, gen, scale=scale)
        then = 0.3 * (torch.ones(g.num_weights, 1) if scale is None else scale)
        _, want = grow(conv, g, 2, 1, init, gen, state=first, scale=then)
        _, got = grow_scheduled(conv, g, 2, StepSchedule.parse("1x2,0.3x1"), init, torch.Generator().manual_seed(0),
                                scale=scale)
        assert torch.equal(got.w, want.w) and torch.equal(got.h, want.h)
        assert not torch.equal(got.w, first.w)
