"""benchmarks/grad_alignment.py: cosines against the loss gradient."""
import json

import pytest

from ._helpers import bench_module, run, tiny_data_rule


def test_grad_alignment_cosines_gradients_and_smoke(tmp_path, monkeypatch):
    """Cosines per layer against the negative gradient; the batched gradient equals plain PyTorch's for each network;
    the script reports every requested growth step."""
    import torch

    import graphnca
    from graphnca.forward import layer_outputs, layer_params
    from graphnca.graph import repeat

    ga = bench_module("grad_alignment", monkeypatch)
    g = torch.randn(2, 5)
    layer = torch.tensor([0, 0, 1, 1, 1])
    dw = torch.cat([-3 * g[:, :2], 2 * g[:, 2:]], dim=1)      # descends on layer 0, climbs on layer 1
    assert ga.layer_cosines(dw, g, layer, 2) == pytest.approx([1.0, -1.0])

    graph = graphnca.WeightGraph.from_sizes((4, 5, 3))
    w = torch.randn(2 * graph.num_weights)
    x, y = torch.randn(7, 4), torch.randint(3, (7,))
    grad = ga.loss_gradient(repeat(graph, 2), w, x, y).view(2, -1)
    for k in range(2):
        model = graphnca.to_sequential(graph, w.view(2, -1)[k])
        torch.nn.functional.cross_entropy(model(x), y).backward()
        ref = torch.cat([t.grad.flatten() for t in model.parameters()])   # [W0, b0, W1, b1], as w is laid out
        assert torch.allclose(grad[k], ref, atol=1e-6)

    # a gradient that is a per-neuron combination of the features is fitted exactly; its coefficients carry over
    graph = graphnca.WeightGraph.from_sizes((12, 6, 5, 3))
    arch, w, x = graph.archs[0], torch.randn(2, graph.num_weights), torch.rand(9, 12)
    W0 = layer_params(arch, w)[0][0]
    hebb = layer_outputs(arch, w, x)[0].transpose(1, 2) @ x / 9      # [2, 6, 12]
    G0 = 2 * hebb - 0.5 * W0 + x.mean(0) + torch.arange(6.0)[:, None]
    g = torch.cat([G0.flatten(1), torch.randn(2, graph.num_weights - G0[0].numel())], dim=1)
    cos, coef = ga.neuron_fits(arch, w, g, x)
    assert cos[0] == pytest.approx(1.0, abs=1e-4) and ga.neuron_fits(arch, w, g, x, coef)[0] == cos
    assert ga.neuron_fits(arch, w, torch.randn_like(g), x)[0][0] < 0.95

    tiny_data_rule(tmp_path, steps=2)
    run("grad_alignment.py", "--rule", str(tmp_path / "rule" / "checkpoint.pt"), "--data-root", str(tmp_path / "mnist"),
        "--arch", "784,5,4,10", "--samples", "2", "--steps", "1,3", "--ref-batch", "16", out=tmp_path)
    data = json.loads((tmp_path / "grad_alignment_mnist_784-5-4-10.json").read_text())
    assert [r["steps"] for r in data["rows"]] == [1, 3] and data["layers"] == 3
    assert all(-1 <= r[f"L{l}_{s}"] <= 1 for r in data["rows"] for l in range(3) for s in ("ref", "batch"))
    first, third = data["rows"]
    assert first["L0_lag"] is None and all(-1 <= third[f"L{l}_{s}"] <= 1 for l in range(2)
                                           for s in ("fit", "lag", "reflag")) and "L2_fit" not in third
