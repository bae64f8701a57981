"""benchmarks/local_credit.py: hand-written local learners read only what a weight may see."""
import json

from ._helpers import bench_module, run


def test_local_credit_learners_and_smoke(tmp_path, monkeypatch):
    """The local learners read only the features: the output layer gets its exact gradient, and with one hidden
    layer the moments learner's hidden update is exactly the regressed credit (alpha_j <a_i a_j> + beta_j <a_i>)."""
    import torch

    import graphnca
    from graphnca.forward import layer_outputs, layer_params
    from graphnca.graph import repeat

    lc = bench_module("local_credit", monkeypatch)
    graph = repeat(graphnca.WeightGraph.from_sizes((4, 5, 3), activation="tanh"), 2)
    arch, w = graph.archs[0], torch.randn(graph.num_weights)
    x, y = torch.randn(30, 4), torch.randint(3, (30,))
    grad = lc.loss_gradient(graph, w, x, y)
    out = ~graph.hidden_w
    for learner in ("readout", "data", "moments"):
        d = lc.direction(learner, graph, w, x, y, 2)[0]
        torch.testing.assert_close(d[out], grad[out], atol=1e-5, rtol=1e-4)
    frozen = lc.direction("readout", graph, w, x, y, 2)[0][graph.hidden_w]
    assert torch.equal(frozen, torch.zeros_like(frozen))
    # reference: per-example credit by backprop, regressed on each hidden neuron's own output
    wk = w.view(2, -1)
    a = layer_outputs(arch, wk, x)[0]                                  # [2, B, 5]
    W1 = layer_params(arch, wk)[1][0]                                  # [2, 3, 5]
    eps = torch.softmax(layer_outputs(arch, wk, x)[1], -1) - torch.nn.functional.one_hot(y, 3)
    delta = (eps @ W1) * (1 - a ** 2)                                  # [2, B, 5]
    ac, dc = a - a.mean(1, keepdim=True), delta - delta.mean(1, keepdim=True)
    alpha = (ac * dc).mean(1) / a.var(1, unbiased=False)
    beta = delta.mean(1) - alpha * a.mean(1)
    hebb = a.transpose(1, 2) @ x / 30                                  # [2, 5, 4]
    ref = torch.cat([(alpha[..., None] * hebb + beta[..., None] * x.mean(0)).flatten(1),
                     alpha * a.mean(1) + beta], dim=1)                 # [W0, b0] of each network
    got, credit = lc.direction("moments", graph, w, x, y, 2)
    torch.testing.assert_close(got.view(2, -1)[:, :ref.shape[1]], ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(lc.direction("oracle", graph, w, x, y, 2)[0], got, atol=1e-5, rtol=1e-4)
    seven = lc.direction("data", graph, w, x, y, 2)[0].view(2, -1)[:, :ref.shape[1]]
    assert not torch.allclose(seven, ref, atol=1e-3)
    # lagged: this step's hidden update uses the credit handed over, and hands on this step's own
    lagged, new = lc.direction("moments", graph, w, x, y, 2, prev=credit)
    torch.testing.assert_close(lagged, got)
    torch.testing.assert_close(new[1][0], credit[1][0])
    first, _ = lc.direction("moments", graph, w, x, y, 2, prev=[None, None])
    assert torch.equal(first.view(2, -1)[:, :ref.shape[1]], torch.zeros_like(ref))
    # per-example credit: messages b = w give backprop; sign symmetry and feedback alignment share its output layer
    torch.testing.assert_close(lc.feedback_direction(arch, wk, wk, x, y).flatten(), grad, atol=1e-6, rtol=1e-5)
    fb = torch.randn(graph.num_weights)
    for learner in ("sign", "feedback"):
        d = lc.direction(learner, graph, w, x, y, 2, fb=fb)[0]
        torch.testing.assert_close(d[out], grad[out], atol=1e-6, rtol=1e-5)
        assert not torch.allclose(d[graph.hidden_w], grad[graph.hidden_w], atol=1e-3)
    sign = torch.sign(w) * (2.0 / graph.in_degree[graph.dst].float()).sqrt()
    torch.testing.assert_close(lc.direction("sign", graph, w, x, y, 2)[0],
                               lc.feedback_direction(arch, wk, sign.view(2, -1), x, y).flatten())

    for timing in ("mixed", "delayed"):
        run("local_credit.py", "--arch", "8,6,5,2", "--nets", "2", "--steps", "1,3", "--lr", "0.1,0.3", "--timing",
            timing, out=tmp_path)
        data = json.loads((tmp_path / f"local_credit_xor_8-6-5-2_{timing}.json").read_text())
        assert len(data["rows"]) == 2 * len(lc.LEARNERS) and all(0 <= r["acc@3"] <= 1 for r in data["rows"])
        assert (tmp_path / f"local_credit_xor_8-6-5-2_{timing}.png").stat().st_size > 1000
    run("local_credit.py", "--grid", "3,4", "--nets", "1", "--steps", "1,2", "--lr", "0.1", "--learners",
        "feedback,backprop", out=tmp_path)
    data = json.loads((tmp_path / "local_credit_xor_grid3-4_feedback-backprop.json").read_text())
    assert data["config"]["arch"] == ["8,3,3,2", "8,3,4,2", "8,4,3,2", "8,4,4,2"]
    assert [(r["arch"], r["learner"]) for r in data["rows"]] == [
        (s, m) for s in data["config"]["arch"] for m in ("feedback", "backprop")]


def test_local_credit_adam_steps_each_weight_by_its_own_moments(tmp_path, monkeypatch):
    """``--optimizer adam``: each weight's step is Adam's on its own gradient estimates — the first step is
    ``-lr * d / (|d| + eps)`` of the learner's direction on the first batch — and ``sgd`` stays ``-lr * d``."""
    import argparse

    import torch

    import graphnca
    from graphnca.data import load_task

    lc = bench_module("local_credit", monkeypatch)
    graph = graphnca.WeightGraph.from_sizes((8, 6, 2), activation="tanh")
    seen, direction = {}, lc.direction

    def spy_direction(*args, **kw):            # the first direction and the weights it was taken at
        d, credit = direction(*args, **kw)
        seen.setdefault("w", args[2].clone())
        seen.setdefault("d", d.clone())
        return d, credit

    def spy_accuracy(graph, w, x, y):          # the weights after the first step
        seen["after"] = w.clone()
        return torch.zeros(1)

    monkeypatch.setattr(lc, "direction", spy_direction)
    monkeypatch.setattr(lc, "accuracy", spy_accuracy)
    for opt, expect in (("sgd", lambda d: -0.1 * d), ("adam", lambda d: -0.1 * d / (d.abs() + 1e-8))):
        seen.clear()
        a = argparse.Namespace(seed=3, nets=2, weight_init="kaiming", weight_scale=1.0, batch=16, timing="now",
                               optimizer=opt)
        lc.run("sign", 0.1, graph, load_task("xor"), a, {1})
        torch.testing.assert_close(seen["after"] - seen["w"], expect(seen["d"]), atol=1e-6, rtol=1e-5)
        assert seen["d"].abs().max() > 0
    run("local_credit.py", "--arch", "8,6,2", "--nets", "1", "--steps", "1,2", "--lr", "0.01", "--learners",
        "sign", "--optimizer", "adam", out=tmp_path)
    rows = json.loads((tmp_path / "local_credit_xor_8-6-2_sign_adam.json").read_text())["rows"]
    assert len(rows) == 1 and 0 <= rows[0]["acc@2"] <= 1
