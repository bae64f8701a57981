"""benchmarks/rule_fit.py: the teacher, the fit, and the shipped fitted rules."""
import json
import subprocess
import sys

import pytest

from ._helpers import BENCH, bench_module, run


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
    """`xor_moments_fit_long_pool.pt` (RESULTS.md) learns what the readout alone cannot: after 1000 growth
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
    """`mnist_moments_fit_dilate35.pt` (RESULTS.md) is the three-set MNIST fit RESULTS.md describes
    (loading and stepping every shipped rule: tests/test_checkpoint.py)."""
    from graphnca.experiments.common import load_rule

    conv, cfg = load_rule(BENCH / "results" / "rules" / "mnist_moments_fit_dilate35.pt")
    assert (cfg.task.task, cfg.task.archs) == ("mnist", ((784, 16, 10), (784, 32, 10)))
    assert (conv.hidden_size, conv.condition, conv.neighbourhood, cfg.rule.fire_rate) == (4, "moments",
                                                                                          "consecutive", 1.0)
