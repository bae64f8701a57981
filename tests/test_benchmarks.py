"""Smoke-run every benchmark script at tiny sizes (seconds); nothing is timed or asserted about speed."""
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graphnca.train import Config, MetaTrainer, TaskConfig, TrainConfig

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def bench_module(name, monkeypatch):
    """Import ``benchmarks/NAME.py`` as a module (benchmarks import their sibling ``_util``, hence the path)."""
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(script, *args, out):
    subprocess.run([sys.executable, str(BENCH / script), *args, "--out", str(out)], check=True,
                   capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("script, args, name", [
    ("perception.py", ["--weights", "1e3,3e3", "--repeats", "1"], "perception"),
    ("throughput.py", ["--weights", "1e3", "--hidden", "2,4", "--widths", "8", "--at", "1e3", "--repeats", "1"],
     "throughput"),
    ("scatter.py", ["--weights", "1e3", "--repeats", "1"], "scatter"),
    ("memory.py", ["--arch", "20,8,3", "--batch", "2", "--steps", "4", "--plain-steps", "1,2"], "memory"),
    ("conditioning.py", ["--hidden", "4", "--batch", "8", "--nets", "2", "--repeats", "1"], "conditioning"),
    ("distributed.py", ["--procs", "1,2", "--steps", "2", "--batch", "2", "--rollout", "2"], "distributed"),
])
def test_benchmark_smoke(tmp_path, script, args, name):
    run(script, *args, out=tmp_path)
    data = json.loads((tmp_path / f"{name}.json").read_text())
    assert data["meta"]["git_revision"] is None or isinstance(data["meta"]["git_revision"], str)
    assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_grow_vs_train_smoke(tmp_path):
    cfg = Config(task=TaskConfig(archs=((4, 5, 3),)),
                 train=TrainConfig(steps=2, batch_per_arch=2, pool_size=0, schedule="fixed:2", eval_every=0,
                                   checkpoint_every=0))
    tr = MetaTrainer(cfg, tmp_path)
    tr.run(progress=False)
    ckpt = tr.save()
    run("grow_vs_train.py", "--rule", str(ckpt), "--arch", "4,5,3", "--target", "0.5", "--many", "3",
        "--max-steps", "4", "--grow-every", "2", "--max-epochs", "2", "--adam-every", "1", out=tmp_path)
    data = json.loads((tmp_path / "grow_vs_train.json").read_text())
    assert data["summary"]["target"] == 0.5 and len(data["grow_one"]) == 2


def tiny_data_rule(tmp_path, steps: int = 1):
    """A ``steps``-meta-step data-conditioned rule on fake MNIST IDX files in ``tmp_path/mnist`` (``tmp_path/rule``)."""
    from graphnca.cli import main
    from graphnca.testing import write_fake_idx
    write_fake_idx(tmp_path / "mnist", 40, 20)
    assert main(["train", "--task", "mnist", "--data-root", str(tmp_path / "mnist"), "--condition", "data",
                 "--deadzone", "0", "--arch", "784,6,10", "--steps", str(steps), "--batch-per-arch", "2",
                 "--pool-size", "0", "--schedule", "fixed:2", "--eval-every", "0", "--checkpoint-every", str(steps),
                 "--out", str(tmp_path / "rule")]) == 0


def test_gpu_study_script_quick_on_cpu(tmp_path):
    """The prepared GPU script, every stage shrunk (QUICK=1) and on the CPU: each stage's results land in the pack."""
    import os
    import tarfile

    tiny_data_rule(tmp_path, steps=2)
    env = {**os.environ, "WORK": str(tmp_path / "w"), "DATA": str(tmp_path / "mnist"), "QUICK": "1", "DEVICE": "cpu",
           "RULE": str(tmp_path / "rule" / "checkpoint.pt"), "TRAIN_S": "3", "PYTHON": sys.executable}
    out = subprocess.run(["bash", str(BENCH / "gpu_study.sh")], env=env, capture_output=True, text=True,
                         timeout=400, cwd=BENCH.parent)
    assert out.returncode == 0 and "failed" not in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    with tarfile.open(tmp_path / "w.tgz") as tar:
        names = set(tar.getnames())
    for f in ("bench/throughput.json", "bench/memory.json", "bench/grow_vs_train.json", "smoke/train.json",
              "calibrate/train.json", "train/train.json", "train/rule.pt"):
        assert f"w/{f}" in names, f
    assert "w/train/checkpoint.pt" not in names           # only the exported rule travels back


def test_readout_refs_smoke(tmp_path):
    """Every width gets every reference, each an accuracy, from the same initial networks as `graphnca grow`."""
    tiny_data_rule(tmp_path)
    run("readout_refs.py", "--rule", str(tmp_path / "rule" / "checkpoint.pt"), "--data-root", str(tmp_path / "mnist"),
        "--widths", "3,5", "--samples", "2", "--batches", "4", "--iters", "5", out=tmp_path)
    data = json.loads((tmp_path / "readout_refs_mnist.json").read_text())
    assert [r["width"] for r in data["rows"]] == [3, 5] and data["batch"] == 64
    for r in data["rows"]:
        assert len(r["refit"]) == 2 and len(r["adam_network"]) == 2 and set(r["adam_readout"]) == {"0.001", "0.01"}
        assert all(0 <= v <= 1 for v in [*r["refit"], *r["adam_network"], *r["adam_readout"].values()])


def test_gpu_rules_script_quick_on_cpu(tmp_path):
    """The prepared rule-variant script, shrunk and on the CPU: every variant trains, exports its rule and is
    evaluated beside the starting rule; grown networks and pools stay out of the pack."""
    import os
    import tarfile

    tiny_data_rule(tmp_path, steps=2)
    env = {**os.environ, "WORK": str(tmp_path / "w"), "DATA": str(tmp_path / "mnist"), "QUICK": "1", "DEVICE": "cpu",
           "RULE": str(tmp_path / "rule" / "checkpoint.pt"), "EVAL_S": "120", "PYTHON": sys.executable}
    env["DEADLINE"] = str(int(time.time()) + 400)
    out = subprocess.run(["bash", str(BENCH / "gpu_rules.sh")], env=env, capture_output=True, text=True,
                         timeout=500, cwd=BENCH.parent)
    assert out.returncode == 0 and "rc " not in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    with tarfile.open(tmp_path / "w.tgz") as tar:
        names = set(tar.getnames())
    for v in ("more", "long", "wide"):
        assert {f"w/{v}/train.json", f"w/{v}/rule.pt", f"w/eval_{v}/grid/heatmap.json"} <= names, v
    assert {"w/eval_base/mid/grow.json", "w/eval_base/deep/grow.json", "w/same_cpu/grow.json",
            "w/same_dev/grow.json"} <= names
    assert not any(n.endswith("checkpoint.pt") or "/net_" in n for n in names)


def test_gpu_grid_script_quick_on_cpu(tmp_path):
    """The prepared grid script, shrunk and on the CPU: every grid of both lanes lands in the pack."""
    import os
    import tarfile

    tiny_data_rule(tmp_path, steps=2)
    rule = str(tmp_path / "rule" / "checkpoint.pt")
    env = {**os.environ, "WORK": str(tmp_path / "g"), "DATA": str(tmp_path / "mnist"), "QUICK": "1", "DEVICE": "cpu",
           "BASE_RULE": rule, "MIX_RULE": rule, "PYTHON": sys.executable, "DEADLINE": str(int(time.time()) + 300)}
    out = subprocess.run(["bash", str(BENCH / "gpu_grid.sh")], env=env, capture_output=True, text=True,
                         timeout=400, cwd=BENCH.parent)
    assert out.returncode == 0 and "rc " not in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    with tarfile.open(tmp_path / "g.tgz") as tar:
        grids = {n.split("/")[1]: json.load(tar.extractfile(n)) for n in tar.getnames() if n.endswith("heatmap.json")}
    assert set(grids) == {"base_T3", "base_T2", "base_T6", "deep5_T3", "mix_T2"}
    assert grids["deep5_T3"]["third"] == 5 and grids["base_T6"]["samples"] == 1 and grids["base_T3"]["samples"] == 2
    assert all(len(g["grown_mean"]) == 2 and g["wall_s"] > 0 for g in grids.values())


def test_readout_probe_fit_and_smoke(tmp_path, monkeypatch):
    """The readout fit separates separable features exactly; the script probes every growth length it is given."""
    import torch

    probe = bench_module("readout_probe", monkeypatch)
    y = torch.arange(60) % 3
    f = torch.nn.functional.one_hot(y, 3).float() + 0.1 * torch.randn(60, 3)       # [60, 3], separable
    acc = probe.fit_readout(torch.stack([f, torch.randn(60, 3)]), y, torch.stack([f, f]), y, iters=50, l2=0.0)
    assert acc[0] == 1.0 and acc.shape == (2,)

    tiny_data_rule(tmp_path)
    run("readout_probe.py", "--rule", str(tmp_path / "rule" / "checkpoint.pt"), "--data-root", str(tmp_path / "mnist"),
        "--arch", "784,5,10", "--samples", "2", "--steps", "0,2,3", "--iters", "5", out=tmp_path)
    data = json.loads((tmp_path / "readout_probe_mnist_784-5-10.json").read_text())
    rows = data["rows"]
    assert [r["steps"] for r in rows] == [0, 2, 3] and all(len(r["probe"]) == 2 for r in rows)
    assert rows[0]["adam_readout"] is None and all(0 <= r["adam_readout"] <= 1 for r in rows[1:])
    assert 0 <= data["linear_on_inputs"] <= 1


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


def test_step_scale_selects_on_validation(tmp_path, monkeypatch):
    """The scale is chosen on held-out training data at the longest growth length; every scale x T is reported."""
    import torch

    ss = bench_module("step_scale", monkeypatch)
    rows = [{"scale": 1.0, "steps": 5, "val_mean": 0.9}, {"scale": 1.0, "steps": 9, "val_mean": 0.5},
            {"scale": 0.5, "steps": 9, "val_mean": 0.7}, {"scale": 0.2, "steps": 9, "val_mean": 0.7},
            {"scale": 0.5, "hidden_scale": 0.0, "steps": 9, "val_mean": 0.7},
            {"scale": 0.5, "hidden_scale": 0.0, "hidden_state_scale": 0.2, "steps": 9, "val_mean": 0.7}]
    assert ss.select(rows) is rows[2]          # best at T = 9 (not the best overall), ties go to the larger scales
    assert ss.label(rows[4]) == "step scale 0.5, hidden 0" and ss.label(rows[2]) == "step scale 0.5"
    assert ss.label(rows[5]) == "step scale 0.5, hidden 0, hidden states 0.2"
    x, y = torch.arange(10.0)[:, None], torch.arange(10)
    xg, yg, xv, yv = ss.split_train(x, y, 3, torch.Generator().manual_seed(0))
    assert len(xv) == 3 and sorted(torch.cat([yg, yv]).tolist()) == list(range(10))
    assert (xg[:, 0].long() == yg).all()

    tiny_data_rule(tmp_path)
    run("step_scale.py", "--rule", str(tmp_path / "rule" / "checkpoint.pt"), "--data-root", str(tmp_path / "mnist"),
        "--arch", "784,5,10", "--scales", "1,0.5", "--hidden-scales", "same,0", "--hidden-state-scales", "same,0.3",
        "--steps", "1,2", "--val", "10", "--device", "cpu", out=tmp_path)
    data = json.loads((tmp_path / "step_scale_mnist_784-5-10.json").read_text())
    grid = [(1.0, 1.0), (0.5, 0.5), (1.0, 0.0), (0.5, 0.0)]                # (scale, hidden) for each state multiple
    assert [(r["scale"], r["hidden_scale"], r["hidden_state_scale"], r["steps"]) for r in data["rows"]] == [
        (k, h, h if st is None else st, T) for st in (None, 0.3) for k, h in grid for T in (1, 2)]
    assert data["selected"]["steps"] == 2 and all(0 <= r["test_mean"] <= 1 for r in data["rows"])
    assert "cpus" in data["meta"]["device"]


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


def test_rule_fit_teacher_is_the_delayed_learner_and_smoke(tmp_path, monkeypatch):
    """The teacher, reading only a rule's inputs, moves output weights by their exact gradient at once and hidden
    weights one step later by the local_credit moments learner's update for the earlier batch; the fitted rule is
    a checkpoint that `graphnca grow` takes."""
    import torch

    import graphnca
    from graphnca.conditioning import data_features
    from graphnca.graph import repeat

    lc, rf = bench_module("local_credit", monkeypatch), bench_module("rule_fit", monkeypatch)
    graph = repeat(graphnca.WeightGraph.from_sizes((4, 5, 3), activation="tanh"), 2)
    hid, out, lr = graph.hidden_w, ~graph.hidden_w, 0.3
    x0 = torch.cat([torch.randn(graph.num_weights, 1), torch.zeros(graph.num_weights, 5)], 1)
    batches = [(torch.randn(30, 4), torch.randint(3, (30,))) for _ in range(2)]
    xs = [x0]
    for xb, yb in batches:      # gain 3 = the outputs' count: the learner sums over them, the rule takes means
        f = data_features(graph, xs[-1][:, 0], xb, yb, condition="moments")
        xs.append(xs[-1] + rf.teacher_delta(graph, xs[-1], f, lr, gain=3.0, eps=1e-12))
    d1, d2 = xs[1][:, 0] - x0[:, 0], xs[2][:, 0] - xs[1][:, 0]
    assert torch.equal(d1[hid], torch.zeros_like(d1[hid]))             # no credit has arrived yet
    for d, w, (xb, yb) in ((d1, x0[:, 0], batches[0]), (d2, xs[1][:, 0], batches[1])):
        torch.testing.assert_close(d[out], -lr * lc.loss_gradient(graph, w, xb, yb)[out], atol=1e-5, rtol=1e-4)
    learner = lc.direction("moments", graph, x0[:, 0], *batches[0], 2)[0]
    torch.testing.assert_close(d2[hid], -lr * learner[hid], atol=1e-5, rtol=1e-4)
    ro = rf.teacher_delta(graph, xs[1], f, lr, eps=1e-12, readout=True)[:, 0]
    assert torch.equal(ro[hid], torch.zeros_like(ro[hid]))

    run("rule_fit.py", "--fit-arch", "8,4,2", "--arch", "8,6,2", "--nets", "2", "--fit-steps", "6",
        "--fit-samples", "3", "--dagger", "1", "--epochs", "1", "--widths", "8", "--interaction", "2",
        "--steps", "2,4", "--balanced", out=tmp_path)
    data = json.loads((tmp_path / "rule_fit_xor.json").read_text())
    assert [r["who"] for r in data["rows"]] == ["teacher", "readout", "student"] * 2
    assert [f["round"] for f in data["fits"]] == [0, 1] and all(0 <= r["acc@4"] <= 1 for r in data["rows"])
    assert all(0 <= f["trajectory_acc"] <= 1 and f["dropped"] >= 0 and len(f["hidden"]) == 5 for f in data["fits"])
    assert (tmp_path / "rule_fit_xor.png").stat().st_size > 1000
    run("rule_fit.py", "--rule", str(tmp_path / "rule_fit_xor.pt"), "--arch", "8,6,2", "--nets", "2", "--steps", "2",
        out=tmp_path)
    rows = json.loads((tmp_path / "rule_eval_xor.json").read_text())["rows"]
    assert [(r["arch"], r["who"], r["fitted"]) for r in rows] == [
        (arch, who, arch == "8,4,2") for arch in ("8,4,2", "8,6,2") for who in ("teacher", "readout", "rule_fit_xor")]
    subprocess.run([sys.executable, "-m", "graphnca", "grow", "--rule", str(tmp_path / "rule_fit_xor.pt"),
                    "--arch", "8,6,2", "--samples", "2", "--steps", "3", "--out", str(tmp_path / "grow")],
                   check=True, capture_output=True, text=True, timeout=300)
    assert list((tmp_path / "grow").glob("*.json"))


def test_rule_fit_teacher_on_two_hidden_layers_settles_on_the_learner(monkeypatch):
    """Deeper networks: credit moves one layer per step through the states, so on a fixed batch and fixed weights
    the third update of every weight — first layer included — is the moments learner's (all layers at once)."""
    import torch

    import graphnca
    from graphnca.conditioning import data_features
    from graphnca.graph import repeat

    lc, rf = bench_module("local_credit", monkeypatch), bench_module("rule_fit", monkeypatch)
    graph = repeat(graphnca.WeightGraph.from_sizes((4, 3, 3, 3), activation="tanh"), 2)   # every fan-out 3 = gain
    x = torch.cat([torch.randn(graph.num_weights, 1), torch.zeros(graph.num_weights, 5)], 1)
    xb, yb, lr = torch.randn(30, 4), torch.randint(3, (30,)), 0.3
    f = data_features(graph, x[:, 0], xb, yb, condition="moments")
    first = graph.layer == 0
    for step in range(3):
        d = rf.teacher_delta(graph, x, f, lr, gain=3.0, eps=1e-12)
        if step == 1:                                   # the error has reached the middle weights' states only
            assert torch.equal(d[first, 0], torch.zeros_like(d[first, 0]))
        x = torch.cat([x[:, :1], x[:, 1:] + d[:, 1:]], 1)                 # states move, weights stay
    assert torch.equal(x[first, 1:3], torch.zeros_like(x[first, 1:3]))    # inputs take no credit
    learner = lc.direction("moments", graph, x[:, 0], xb, yb, 2)[0]
    assert d[first, 0].abs().max() > 1e-4                                 # the first layer does learn
    torch.testing.assert_close(d[:, 0], -lr * learner, atol=1e-5, rtol=1e-4)


def test_rule_fit_balanced_keeps_the_function_and_cuts_dead_columns(monkeypatch):
    """Fitting in scaled coordinates reparametrises the rule's first layer: the same function of the scaled inputs
    inside, of the raw inputs after (folded back); a column the teacher's rows never move off 0 is cut and stays
    cut through the fit; hidden rows' errors are scaled by the hidden rows' spread."""
    import torch

    import graphnca

    rf = bench_module("rule_fit", monkeypatch)
    rule = graphnca.LocalRule(4, (16,), 2.0, 13, 0.0, 4)
    for p in rule.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x = torch.randn(200, rule.in_dim) * torch.logspace(-3, 1, rule.in_dim) + 0.5    # columns 1e-3 .. 10 apart
    spread = x.abs().amax(0)
    before = rule(x).detach()
    assert before.abs().max() < 0.9 * rule.step_size                   # not saturated: the check can see a change
    with rf.rescaled(rule.first, spread):
        torch.testing.assert_close(rule(x / spread), before, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(rule(x), before, atol=1e-5, rtol=1e-4)

    x[:, 7] = 0.0                                                      # a column the teacher never moves
    hid = torch.arange(200) % 4 != 0
    y = torch.randn(200, rule.state_dim) * torch.where(hid[:, None], 0.01, 1.0)
    y[hid, 1] = 0.0                                                    # constant at hidden rows: falls back
    scale, spread, cut = rf.balance(rule, x, y, hid)
    assert cut.tolist() == [i == 7 for i in range(rule.in_dim)] and spread[7] == 1.0
    s = scale(hid)
    torch.testing.assert_close(s[hid][0], torch.cat([y[hid].std(0)[:1], y[~hid].std(0)[1:2], y[hid].std(0)[2:]]))
    torch.testing.assert_close(s[~hid][0], y[~hid].std(0))
    sq, err = rf.fit(rule, x, y, s, 3, 1e-2, 50, torch.Generator().manual_seed(0), spread)
    assert sq.shape == y.shape and len(err) == rule.state_dim and not torch.allclose(rule(x), before)
    assert torch.equal(rule.first.weight[:, 7], torch.zeros(rule.first.out_features))


def test_rule_fit_dilate_thickens_strokes_and_restandardises(monkeypatch):
    """`--dilate K` turns one lit pixel into a K x K block, standardises the training images again with their own
    statistics (the test images with the same ones), refuses a task without images or an even K; each fitting
    round pools the rows of one trajectory per set."""
    from types import SimpleNamespace

    import torch

    import graphnca
    from graphnca.data import TaskData, load_task

    rf = bench_module("rule_fit", monkeypatch)
    x = torch.zeros(4, 36)
    x[torch.arange(4), torch.tensor([0, 14, 21, 35])] = 1.0             # one pixel each, corners and middle
    data = TaskData("toy", x, torch.arange(4) % 2, x[:2].clone(), torch.arange(2), 2, (6, 6))
    d = rf.dilated(data, 3)
    assert d.name == "toy-dilated3" and d.x_train.shape == x.shape
    lit = d.x_train > d.x_train.min()
    assert lit.sum(1).tolist() == [4, 9, 9, 4]                         # 3 x 3 blocks, cut at the corners
    assert lit[1].view(6, 6)[1:4, 1:4].all()                           # pixel (2, 2) -> rows and columns 1..3
    torch.testing.assert_close(d.x_train.mean(), torch.tensor(0.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(d.x_train.std(), torch.tensor(1.0))
    torch.testing.assert_close(d.x_test, d.x_train[:2])                # the training statistics, not its own
    with pytest.raises(ValueError, match="--dilate needs an image task"):
        rf.dilated(load_task("xor"), 3)
    with pytest.raises(ValueError, match="odd K >= 3"):
        rf.dilated(data, 4)

    g = graphnca.WeightGraph.from_sizes((36, 3, 2), activation="tanh")
    a = SimpleNamespace(dilate=[3], dagger=1, fit_steps=4, fit_samples=2, batch=4, balanced=True, epochs=1,
                        fit_lr=1e-3, fit_batch=64, widths="8", step_size=2.0, interaction=2)
    _, fits = rf.fit_rule(a, data, g, lambda x, f, g: rf.teacher_delta(g, x, f, 0.3), 4, torch.Generator())
    assert [list(f["trajectory_accs"]) for f in fits] == [["toy", "toy-dilated3"]] * 2
    assert [f["rows"] for f in fits] == [2 * 2 * g.num_weights, 2 * 2 * 2 * g.num_weights]


def test_shipped_xor_rule_grows_the_hidden_layer(monkeypatch):
    """`xor_moments_fit_long_pool.pt` (README, session 18) learns what the readout alone cannot: after 1000 growth
    steps its xor networks beat the same networks and batches with only the output layer learning."""
    import torch

    import graphnca
    from graphnca.conditioning import DataStream
    from graphnca.data import load_task
    from graphnca.experiments.common import load_rule
    from graphnca.graph import repeat

    rf = bench_module("rule_fit", monkeypatch)
    conv, cfg = load_rule(BENCH / "results" / "rules" / "xor_moments_fit_long_pool.pt")
    assert (cfg.task.task, cfg.rule.condition, cfg.rule.neighbourhood) == ("xor", "moments", "consecutive")
    data, g = load_task("xor"), repeat(graphnca.WeightGraph.from_sizes((8, 32, 2), activation="tanh"), 4)
    acc = {}
    for who, step in (("rule", lambda x, f: conv.eval()(x, graph=g, features=f) - x),
                      ("readout", lambda x, f: rf.teacher_delta(g, x, f, 0.3, readout=True))):
        gen = torch.Generator().manual_seed(0)
        stream = DataStream(data.x_train, data.y_train, cfg.task.grow_batch, gen)
        acc[who] = rf.grow(g, step, rf.fresh(g, conv.hidden_size, gen), stream, 1000, {1000}, data)[0][1000]
    assert acc["rule"] > acc["readout"] + 0.15, acc


def test_shipped_mnist_fit_rule_is_the_documented_fit():
    """`mnist_moments_fit_dilate35.pt` (README, sessions 20–21) is the three-set MNIST fit the README describes
    (loading and stepping every shipped rule: tests/test_checkpoint.py)."""
    from graphnca.experiments.common import load_rule

    conv, cfg = load_rule(BENCH / "results" / "rules" / "mnist_moments_fit_dilate35.pt")
    assert (cfg.task.task, cfg.task.archs) == ("mnist", ((784, 16, 10), (784, 32, 10)))
    assert (conv.hidden_size, conv.condition, conv.neighbourhood, cfg.rule.fire_rate) == (4, "moments",
                                                                                          "consecutive", 1.0)
