"""The data-conditioned rule: exact features, locality, no autograd while growing, mixed batches."""
import pytest
import torch
from hypothesis import given, settings
from torch import nn

import graphnca
from graphnca.conditioning import DataStream, data_features
from graphnca.convert import to_sequential
from graphnca.grow import grow
from graphnca.nn import MetaNCAConv
from graphnca.grow import rollout
from graphnca.state import InitConfig, State, init_state
from graphnca.testing import assert_permutation_equivariant, node_permutation

from .strategies import graphs


def conditioned(hidden_size=3, condition="data", **kw):
    conv = MetaNCAConv(hidden_size=hidden_size, widths=(16,), condition=condition, fire_rate=1.0, **kw)
    for p in conv.parameters():      # the zero-initialised last layer would make every check trivial
        nn.init.normal_(p, std=0.3)
    return conv.eval()


def _neuron_outputs(mods, x):
    """Brute force, one network: every layer's outputs and activation slopes ``[B, size]`` by autograd."""
    outs, slopes, h = [], [], x
    for i, m in enumerate(mods):
        if isinstance(m, nn.Linear):
            z = m(h).detach().requires_grad_(True)
            h = z
        else:
            h = m(h)
        if i + 1 == len(mods) or isinstance(mods[i + 1], nn.Linear):
            slopes.append(torch.autograd.grad(h.sum(), z)[0] if h is not z else torch.ones_like(z))
            outs.append(h.detach())
            h = h.detach()
    return outs, slopes


def reference_features(graph, w, x, y):
    """Brute force: every neuron's output on every example ``[B, N]``, then the features per weight."""
    out = []
    for g, wg in zip(graph.unbatch(), graph.split(w)):
        arch, mods, B = g.archs[0], list(to_sequential(g, wg)), x.shape[0]
        outs, _ = _neuron_outputs(mods, x)
        probs = torch.softmax(outs[-1], 1)
        bias = [torch.ones(B, arch.num_layers)] if arch.bias else []
        A = torch.cat([x, *outs[:-1], probs, *bias], 1)                       # [B, N]
        err = torch.zeros_like(A)
        c = arch.sizes[-1]
        err[:, sum(arch.sizes) - c:sum(arch.sizes)] = probs - nn.functional.one_hot(y, c).float()
        s, d, e = A[:, g.src], A[:, g.dst], err[:, g.dst]
        sd = lambda a: (a - a.mean(0)).pow(2).mean(0).sqrt()          # noqa: E731  population std, by hand
        cols = [s.mean(0), sd(s), d.mean(0), sd(d), e.mean(0), (s * d).mean(0), (s * e).mean(0)]
        out.append(torch.stack(cols, 1))
    return torch.cat(out)


@settings(max_examples=25, deadline=None)
@given(graphs(max_width=5))
def test_features_match_brute_force_on_mixed_batches(g):
    other = graphnca.WeightGraph.from_sizes([g.archs[0].sizes[0], 3, g.archs[0].sizes[-1]], activation="tanh")
    big = graphnca.batch([g, other, g, g])          # mixed architectures, repeated members in several runs
    w = torch.randn(big.num_weights)
    x = torch.randn(6, g.archs[0].sizes[0])
    y = torch.randint(g.archs[0].sizes[-1], (6,))
    f = data_features(big, w, x, y)
    assert f.shape == (big.num_weights, 7)
    torch.testing.assert_close(f, reference_features(big, w, x, y), atol=1e-5, rtol=1e-5)
    # a batch's features are its members' features, stacked
    singles = [data_features(m, wm, x, y) for m, wm in zip(big.unbatch(), big.split(w))]
    torch.testing.assert_close(f, torch.cat(singles), atol=1e-6, rtol=0)


@pytest.mark.parametrize("condition, aggregation", [("data", "mean"), ("data", "mean+product"), ("feedback", "mean")])
def test_paths_agree_and_rule_is_equivariant(condition, aggregation):
    g = graphnca.batch([graphnca.WeightGraph.from_sizes([4, 5, 3, 3], activation="tanh"),
                        graphnca.WeightGraph.from_sizes([4, 6, 3], masks=[torch.rand(6, 4) < 0.6, None])])
    conv = conditioned(condition=condition, aggregation=aggregation)
    x = torch.randn(g.num_weights, 4)
    data = (torch.randn(8, 4), torch.randint(3, (8,)))
    ref = conv(x, graph=g, data=data)                                    # autograd path (parameters need grad)
    with torch.no_grad():
        torch.testing.assert_close(conv(x, graph=g, data=data), ref, atol=1e-5, rtol=1e-5)      # fused path
    ei_f, ei_b = g.line_graph()
    feats = conv.features(g, x, data)
    torch.testing.assert_close(conv(x, ei_f, ei_b, features=feats), ref, atol=1e-5, rtol=1e-5)  # plain PyG path
    dense = g.unbatch()[0]                  # relabelling hidden units permutes features and updates alike
    assert_permutation_equivariant(conv, dense, x[:dense.num_weights], data=data)


def test_feedback_credit_is_backprop_when_the_messages_are_the_weights():
    # the module docstring's claim: with b_e = w_e (times sqrt(fan-out), undoing the normalisation) the per-example
    # credit is backprop's, so the credit-Hebbian column is the loss gradient, in mixed and masked batches
    g1 = graphnca.WeightGraph.from_sizes([4, 5, 3, 3], activation="tanh")
    g2 = graphnca.WeightGraph.from_sizes([4, 6, 3], activation="tanh", masks=[torch.rand(6, 4) < 0.6, None])
    big = graphnca.batch([g1, g2, g1])
    w, x, y = torch.randn(big.num_weights), torch.randn(9, 4), torch.randint(3, (9,))
    fb = w * big.out_degree[big.src].float().sqrt()
    f = data_features(big, w, x, y, condition="feedback", feedback=fb)
    assert f.shape == (big.num_weights, 9) and torch.equal(f[:, :7], data_features(big, w, x, y))
    grads = []
    for m, wm in zip(big.unbatch(), big.split(w)):
        wm = wm.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(graphnca.forward.task_forward(m, wm, x)[0], y)
        grads.append(torch.autograd.grad(loss, wm)[0])
    torch.testing.assert_close(f[:, 8], torch.cat(grads), atol=1e-6, rtol=1e-5)
    out = ~big.hidden_w                                                 # output weights: the error terms again
    assert torch.equal(f[out, 7], f[out, 4]) and torch.equal(f[out, 8], f[out, 6])
    # locality: the messages of layer-1 weights reach the credit below them, never the features at or above
    moved = torch.where(big.layer == 1, torch.randn_like(fb), fb)
    f2 = data_features(big, w, x, y, condition="feedback", feedback=moved)
    assert torch.equal(f2[big.layer >= 1], f[big.layer >= 1])
    assert not torch.allclose(f2[big.layer == 0, 7:], f[big.layer == 0, 7:])
    # a rule reads its messages from its state's last channel
    conv = conditioned(condition="feedback")
    state = torch.randn(big.num_weights, 4)
    raw = data_features(big, state[:, 0], x, y, condition="feedback", feedback=state[:, -1])
    torch.testing.assert_close(conv.features(big, state, (x, y)), raw)


def _relabel_inputs_and_classes(g, gen):
    """Neuron relabelling that shuffles the input pixels and the output classes of one network."""
    arch, perm = g.archs[0], torch.arange(g.num_neurons)
    n_in, n_out, first_out = arch.sizes[0], arch.sizes[-1], sum(arch.sizes[:-1])
    perm[:n_in] = torch.randperm(n_in, generator=gen)
    perm[first_out:first_out + n_out] = first_out + torch.randperm(n_out, generator=gen)
    return perm, perm[:n_in], perm[first_out:first_out + n_out] - first_out


@pytest.mark.parametrize("hidden_init", ["zeros", "positional"])
def test_zero_hidden_init_cannot_tell_pixels_or_classes_apart(hidden_init):
    # With hidden_init="zeros" growth commutes with relabelling input pixels and classes (data relabelled alike):
    # such a rule can only learn from the data. Positional codes name pixels and classes, so there it must fail.
    gen = torch.Generator().manual_seed(0)
    g = graphnca.WeightGraph.from_sizes([6, 5, 4], activation="tanh")
    conv = conditioned(hidden_size=7)   # room for flags and position codes
    state = init_state(g, 7, InitConfig(hidden_init=hidden_init, weight_scale=1.0), generator=gen)
    perm, p_in, p_out = _relabel_inputs_and_classes(g, gen)
    sigma = node_permutation(g, perm)
    x, y = torch.randn(16, 6), torch.randint(4, (16,))
    x_new = torch.empty_like(x)
    x_new[:, p_in] = x                                     # original input i is input p_in[i] of the new network
    with torch.no_grad():
        ref = rollout(conv, g, state, 4, data=lambda: (x, y))
        relabelled = State(state.w[sigma], init_state(g, 7, InitConfig(hidden_init=hidden_init)).h)
        out = rollout(conv, g, relabelled, 4, data=lambda: (x_new, p_out[y]))
    same = torch.allclose(out.w, ref.w[sigma], atol=1e-5, rtol=0)
    assert same == (hidden_init == "zeros")


def _update(conv, g, x, data):
    with torch.no_grad():
        return conv(x, graph=g, data=data) - x


@pytest.mark.parametrize("condition", ["data"])
def test_locality_input_a_weight_cannot_see(condition):
    # input 0 reaches hidden unit 0 only; weights that touch neither input 0, hidden 0 nor an output cannot see it
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1:, 0] = False
    g = graphnca.WeightGraph.from_sizes([4, 3, 2], activation="tanh", masks=[mask, None])
    conv, x = conditioned(condition=condition), torch.randn(g.num_weights, 4)
    inputs, labels = torch.randn(16, 4), torch.randint(2, (16,))
    changed = inputs.clone()
    changed[:, 0] = torch.randn(16) * 3
    d0, d1 = _update(conv, g, x, (inputs, labels)), _update(conv, g, x, (changed, labels))
    sees = {0, 4} | {7, 8}                               # input 0, hidden 0, the two outputs (neuron ids)
    blind = torch.tensor([int(s) not in sees and int(t) not in sees for s, t in zip(g.src, g.dst)])
    assert blind.sum() >= 6 and (~blind).sum() >= 6
    assert torch.equal(d0[blind], d1[blind])             # exactly unchanged
    assert not torch.allclose(d0[~blind], d1[~blind])    # and the change is visible where it may be


@pytest.mark.parametrize("condition", ["data"])
def test_labels_reach_only_weights_into_outputs(condition):
    # the error exists at output neurons only: a hidden weight's first update cannot depend on the labels
    g = graphnca.WeightGraph.from_sizes([4, 5, 4, 3], activation="tanh")
    conv, x = conditioned(condition=condition), torch.randn(g.num_weights, 4)
    inputs = torch.randn(16, 4)
    d0 = _update(conv, g, x, (inputs, torch.randint(3, (16,))))
    d1 = _update(conv, g, x, (inputs, torch.randint(3, (16,))))
    into_output = g.layer == 2
    assert torch.equal(d0[~into_output], d1[~into_output])
    assert not torch.allclose(d0[into_output], d1[into_output])


def test_growth_never_runs_autograd_through_the_task_network(monkeypatch):
    import graphnca.conditioning as cond
    seen = []
    real = cond.layer_outputs

    def spy(*a, **k):
        seen.append(torch.is_grad_enabled())
        return real(*a, **k)
    monkeypatch.setattr(cond, "layer_outputs", spy)
    g = graphnca.WeightGraph.from_sizes([4, 6, 3], activation="tanh")
    conv = conditioned()
    stream = DataStream(torch.randn(50, 4), torch.randint(3, (50,)), 8, torch.Generator().manual_seed(0))
    big, state = grow(conv, g, 3, 4, InitConfig(), data=stream)
    assert state.w.grad_fn is None and len(seen) == 4
    # meta-training differentiates the rule's use of the features, never the task network's forward pass
    x0 = init_state(big, 3, InitConfig())
    out = rollout(conv, big, x0, 3, data=stream, checkpoint=True)
    out.w.sum().backward()
    assert len(seen) == 7 and not any(seen)
    assert conv.rule.first.weight.grad is not None and conv.rule.first.weight.grad.abs().sum() > 0


def test_stream_batches_are_seeded():
    x, y = torch.randn(100, 3), torch.arange(100) % 3
    a = DataStream(x, y, 10, torch.Generator().manual_seed(1))
    b = DataStream(x, y, 10, torch.Generator().manual_seed(1))
    assert all(torch.equal(a()[0], b()[0]) for _ in range(3))
    assert DataStream(x, y, 1000)()[0] is x                     # a batch larger than the data: all of it


def test_bad_inputs():
    g = graphnca.WeightGraph.from_sizes([4, 5, 3])
    x = torch.randn(g.num_weights, 4)
    data = (torch.randn(8, 4), torch.randint(3, (8,)))
    with pytest.raises(ValueError, match="needs data"):
        conditioned()(x, graph=g)
    with pytest.raises(ValueError, match="not data-conditioned"):
        MetaNCAConv(hidden_size=3)(x, graph=g, data=data)
    with pytest.raises(ValueError, match="features must be"):
        conditioned()(x, graph=g, features=torch.zeros(g.num_weights, 5))
    with pytest.raises(ValueError, match="data has 5 features"):
        conditioned()(x, graph=g, data=(torch.randn(8, 5), data[1]))
    with pytest.raises(ValueError, match="labels must lie"):
        conditioned()(x, graph=g, data=(data[0], torch.full((8,), 3)))
    with pytest.raises(ValueError, match="unknown condition"):
        MetaNCAConv(condition="labels")
    with pytest.raises(ValueError, match="condition 'none' has no data features"):
        data_features(g, x[:, 0], *data, condition="none")
    with pytest.raises(ValueError, match="features must be"):
        conditioned(condition="feedback")(x, graph=g, features=torch.zeros(g.num_weights, 7))
    with pytest.raises(ValueError, match="needs data="):
        rollout(conditioned(), g, State.unpack(x), 2)
    with pytest.raises(ValueError, match="extra inputs"):
        MetaNCAConv(condition="data", rule=graphnca.LocalRule(3))
    with pytest.raises(ValueError, match="unknown condition"):
        MetaNCAConv(condition="moments")             # an option this version removed
    with pytest.raises(ValueError, match="needs hidden_size >= 1"):
        MetaNCAConv(hidden_size=0, condition="feedback")
    with pytest.raises(ValueError, match="needs feedback="):
        data_features(g, x[:, 0], *data, condition="feedback")
    with pytest.raises(ValueError, match="needs feedback="):
        data_features(g, x[:, 0], *data, condition="data", feedback=x[:, 1])
    with pytest.raises(ValueError, match="feedback must have shape"):
        data_features(g, x[:, 0], *data, condition="feedback", feedback=x[:-1, 1])
