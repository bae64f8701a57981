"""Pretrained rules: loading by name and path, growing plain PyTorch models on raw inputs."""
import subprocess
import sys

import pytest
import torch
from torch import nn

import graphnca
from graphnca.checkpoint import export_rule
from graphnca.config import with_fields
from graphnca.pretrained import RULES, fold_standardisation
from graphnca.meta.presets import PRESETS, preset
from graphnca.testing import write_fake_idx
from graphnca.meta.trainer import MetaTrainer


def tiny_mnist(tmp_path, **train):
    """The mnist preset shrunk to seconds: two small nets, short rollouts, fake MNIST-shaped data."""
    write_fake_idx(tmp_path / "data", n_train=256, n_test=64)
    cfg = preset("mnist")
    cfg.task.data_root, cfg.task.data_batch = str(tmp_path / "data"), 128
    cfg.task.archs = ((784, 8, 10), (784, 6, 6, 10))
    cfg.rule.hidden_size, cfg.rule.widths = 8, (16,)
    for k, v in {"steps": 60, "schedule": "fixed:3", "eval_every": 0, "checkpoint_every": 0, "batch_per_arch": 2,
                 "lr": 1e-2, "warmup": 2, "grow_steps": 3, **train}.items():
        setattr(cfg.train, k, v)
    return cfg


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rule")
    tr = MetaTrainer(tiny_mnist(tmp, steps=20), tmp / "run")
    tr.run(progress=False)
    tr.save()
    export_rule(tmp / "run" / "checkpoint.pt", tmp / "rule.pt")
    return tmp / "rule.pt"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_build_data_free_rules_on_at_most_four_archs(name):
    cfg = preset(name)
    assert cfg.rule.condition == "none" and cfg.init.hidden_init == "positional"
    assert len(cfg.task.archs) <= 4 and cfg.train.grow_steps <= 10 and cfg.task.mean_field is not None
    conv = graphnca.MetaNCAConv.from_config(cfg.rule)
    graph = cfg.task.graph(cfg.task.archs[0])
    assert graph.archs[0].mean_field == cfg.task.mean_field
    assert conv.hidden_size == cfg.rule.hidden_size
    assert preset(name) is not cfg and preset(name) == cfg            # a fresh copy each call


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset 'imagenet'"):
        preset("imagenet")


def test_tiny_preset_run_lowers_the_loss_on_fake_mnist(tmp_path):
    tr = MetaTrainer(tiny_mnist(tmp_path), tmp_path / "run")
    tr.run(progress=False)
    losses = [r["loss"] for r in tr.history]
    assert sum(losses[-10:]) / 10 < 0.9 * sum(losses[:10]) / 10


def test_tiny_robust_run_with_pool_dead_zone_and_damage_lowers_the_loss_on_fake_mnist(tmp_path):
    from graphnca.meta.presets import ROBUST
    cfg = tiny_mnist(tmp_path, steps=200, pool_size=8, pool_fresh=1, pool_replace_every=5)  # the dead zone is slow
    tiny_keeps = ("init_from", "lr", "warmup", "pool_size", "pool_fresh", "pool_replace_every", "schedule")
    robust = {k: v for k, v in ROBUST.items() if k.split(".")[1] not in tiny_keeps}
    cfg = with_fields(cfg, robust)                          # the robust recipe's dead zone, damage and losses
    assert cfg.rule.deadzone > 0 and cfg.train.damage >= 1 and cfg.train.pool_size > 0
    assert cfg.train.pool_replace == "oldest"                           # pooled states are replaced by age
    tr = MetaTrainer(cfg, tmp_path / "run")
    tr.run(progress=False)
    losses = [r["loss"] for r in tr.history]
    assert sum(losses[-10:]) / 10 < 0.9 * sum(losses[:10]) / 10


def test_load_rule_by_path_grows_plain_sequentials(rule_file):
    rule = graphnca.load_rule(rule_file)
    assert rule.config.condition == "none" and rule.steps == 3 and rule.task == "mnist"
    models = rule.grow([784, 12, 7, 10], n=3, seed=1)
    assert len(models) == 3
    for m in models:
        assert type(m) is nn.Sequential
        assert all(type(layer).__module__.startswith("torch.nn") for layer in m)
        assert [layer.out_features for layer in m if isinstance(layer, nn.Linear)] == [12, 7, 10]


def test_grown_models_on_raw_pixels_match_the_graph_state(rule_file, tmp_path):
    rule = graphnca.load_rule(rule_file)
    raw = torch.rand(50, 784)                                   # ToTensor() pixels in [0, 1]
    big, state = rule.grow_states([784, 16, 10], n=4, seed=0)
    ref = graphnca.task_forward(big, state.w, (raw - rule.mean) / rule.std)    # [4, 50, 10]
    models = rule.grow([784, 16, 10], n=4, seed=0)                            # same seed: the same networks
    with torch.no_grad():
        out = torch.stack([m(raw) for m in models])
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_grown_state_dict_runs_without_graphnca(rule_file, tmp_path):
    model = graphnca.load_rule(rule_file).grow([784, 9, 10], n=1, seed=0)[0]
    torch.save(model.state_dict(), tmp_path / "net.pt")
    x = torch.rand(5, 784)
    torch.save(x, tmp_path / "x.pt")
    with torch.no_grad():
        want = model(x)
    code = ("import sys, torch; from torch import nn; sys.modules['graphnca'] = None\n"
            f"m = nn.Sequential(nn.Linear(784, 9), nn.{type(model[1]).__name__}(), nn.Linear(9, 10))\n"
            f"m.load_state_dict(torch.load({str(tmp_path / 'net.pt')!r}, weights_only=True))\n"
            f"x = torch.load({str(tmp_path / 'x.pt')!r}, weights_only=True)\n"
            f"torch.save(m(x).detach(), {str(tmp_path / 'y.pt')!r})\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    torch.testing.assert_close(torch.load(tmp_path / "y.pt", weights_only=True), want)


def test_fold_standardisation_is_exact():
    lin = nn.Linear(5, 3)
    mean, std = torch.tensor(0.3), torch.tensor(0.7)
    x = torch.rand(4, 5)
    with torch.no_grad():
        want = lin((x - mean) / std)
        fold_standardisation(lin, mean, std)
        torch.testing.assert_close(lin(x), want)


def test_mean_field_folds_into_the_exported_weights():
    g = graphnca.WeightGraph.from_sizes([6, 20, 4], mean_field=16.0)
    w = torch.randn(g.num_weights)
    model = graphnca.to_sequential(g, w)
    x = torch.randn(3, 6)
    with torch.no_grad():
        torch.testing.assert_close(model(x), graphnca.task_forward(g, w, x)[0])
    plain = graphnca.to_sequential(graphnca.WeightGraph.from_sizes([6, 20, 4]), w)
    torch.testing.assert_close(model[2].weight, plain[2].weight * 16.0 / 20)
    torch.testing.assert_close(model[0].weight, plain[0].weight)       # the first layer is never scaled


@pytest.mark.parametrize("name", sorted(RULES))
def test_shipped_rules_load_by_name(name):
    rule = graphnca.load_rule(name)
    assert rule.config.condition == "none" and 1 <= rule.steps <= 10
    assert rule.task == ("fashion-mnist" if name == "fashion-mnist" else "mnist")   # mnist-relu, -robust: MNIST
    assert rule.mean is not None and rule.std is not None
    (model,) = rule.grow([784, 10, 10], n=1, seed=0)
    assert isinstance(model, nn.Sequential)


# What each shipped rule grows, pinned when it was exported: (architecture, accuracies of networks 0 and 1 grown
# with seed 0 on the first 2000 packaged MNIST test images, mean and std of network 0's logits on the first 500).
# A change to growth, conversion or the rule file that changes what users get fails here. The Fashion-MNIST
# rule is probed on MNIST images too: the pin is of its outputs, not of its accuracy.
GROWN = {
    "mnist": ([784, 30, 20, 10], (0.9095, 0.9075), 0.16999, 1.5951),
    "mnist-relu": ([784, 30, 20, 10], (0.9255, 0.9225), -5.89097, 2.5271),
    "mnist-robust": ([784, 30, 20, 10], (0.899, 0.8995), 0.14988, 1.6188),
    "fashion-mnist": ([784, 40, 30, 20, 10], (0.0855, 0.089), -1.05616, 1.4387),
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_shipped_rules_grow_what_they_grew_when_exported(name):
    arch, accuracies, mean, std = GROWN[name]
    x, y = graphnca.load_test_set("mnist", download=False)
    models = graphnca.load_rule(name).grow(arch, n=2, seed=0)
    with torch.no_grad():
        got = [(m(x[:2000]).argmax(1) == y[:2000]).float().mean().item() for m in models]
        logits = models[0](x[:500])
    assert got == pytest.approx(accuracies, abs=1e-3)                     # at most two images of 2000 differ
    assert (logits.mean().item(), logits.std().item()) == pytest.approx((mean, std), rel=1e-3, abs=1e-4)


@pytest.mark.parametrize("bad, match", [("no-such-rule", "no pretrained rule named 'no-such-rule'"),
                                        ("/nonexistent/rule.pt", "no pretrained rule named")])
def test_load_rule_bad_names(bad, match):
    with pytest.raises(ValueError, match=match):
        graphnca.load_rule(bad)


@pytest.mark.parametrize("sizes, kw, match", [
    ([784, 0, 10], {}, "at least two positive whole layer sizes"),
    ([784], {}, "at least two positive whole layer sizes"),
    (784, {}, "sizes must be a list of layer sizes"),
    ([784, "a", 10], {}, "sizes must be a list of layer sizes"),
    ([100, 20, 10], {}, r"architecture \[100, 20, 10\] does not fit mnist: it needs 784 inputs and 10 outputs"),
    ([784, 20, 5], {}, "does not fit mnist"),
    ([784, 10], {"n": 0}, "n must be a whole number >= 1"),
    ([784, 10], {"n": 2.5}, "n must be a whole number >= 1"),
    ([784, 10], {"steps": -1}, "steps must be a whole number >= 0"),
    ([784, 10], {"device": "meta"}, "only cpu and cuda are supported"),
    ([784, 10], {"device": "nonsense"}, "unknown device"),
])
def test_grow_bad_arguments(rule_file, sizes, kw, match):
    rule = graphnca.load_rule(rule_file)
    with pytest.raises(ValueError, match=match):
        rule.grow(sizes, **kw)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_grow_on_missing_cuda_is_one_value_error(rule_file):
    with pytest.raises(ValueError, match="CUDA is not available"):
        graphnca.load_rule(rule_file).grow([784, 5, 10], device="cuda")


@pytest.mark.parametrize("fire_rate", [1.0, 0.5])
def test_network_i_does_not_depend_on_how_many_grow(rule_file, fire_rate, tmp_path):
    ck = torch.load(rule_file, weights_only=True)
    ck["config"]["rule"]["fire_rate"] = fire_rate             # < 1: random fire masks, drawn per network too
    torch.save(ck, tmp_path / "r.pt")
    rule = graphnca.load_rule(tmp_path / "r.pt")
    one = rule.grow([784, 7, 10], n=1, seed=3)[0]
    three = rule.grow([784, 7, 10], n=3, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(one.parameters(), three[0].parameters()))
    assert not torch.equal(three[0][0].weight, three[1][0].weight)
    other = rule.grow([784, 7, 10], n=1, seed=4)[0]
    assert not torch.equal(one[0].weight, other[0].weight)


def test_grow_does_not_move_the_rule(rule_file):
    rule = graphnca.load_rule(rule_file)
    conv = rule.conv
    rule.grow([784, 5, 10], n=1, device="cpu")
    assert rule.conv is conv and next(conv.parameters()).device.type == "cpu"


def test_growing_a_loaded_rule_imports_nothing_of_meta_training_or_the_baselines(rule_file):
    code = ("import sys, graphnca\n"
            f"graphnca.load_rule({str(rule_file)!r}).grow([784, 5, 10], n=1)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('graphnca.meta', 'graphnca.baselines',\n"
            "                                                     'graphnca.experiments'))))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
    # the check itself can fail: importing the trainer shows up in the same listing
    code = code.replace("import sys, graphnca", "import sys, graphnca, graphnca.meta.trainer")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "graphnca.meta.trainer" in out


def _strings(obj) -> list[str]:
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, (list, tuple)):
        return [s for v in obj for s in _strings(v)]
    return [obj] if isinstance(obj, str) else []


@pytest.mark.parametrize("name", sorted(RULES))
def test_shipped_rules_hold_no_machine_paths(name):
    from graphnca.checkpoint import load_checkpoint
    from graphnca.pretrained import rule_path
    ck = load_checkpoint(rule_path(name))
    texts = _strings(ck["config"]) + _strings(ck.get("provenance"))
    assert ck["config"]["task"]["data_root"] is None
    assert not [t for t in texts if "/" in t or "\\\\" in t], texts


def test_export_strips_the_machine_paths(rule_file, tmp_path):
    from graphnca.checkpoint import load_checkpoint, save_checkpoint
    ck = load_checkpoint(rule_file)
    ck["rule_only"] = False
    ck["config"]["task"]["data_root"] = "/home/someone/data/mnist"
    ck["config"]["train"]["init_from"] = "/home/someone/runs/a/rule.pt"
    save_checkpoint(tmp_path / "ck.pt", ck)
    export_rule(tmp_path / "ck.pt", tmp_path / "out.pt")
    out = load_checkpoint(tmp_path / "out.pt")
    assert out["config"]["task"]["data_root"] is None and out["config"]["train"]["init_from"] == "rule.pt"
    assert not [t for t in _strings(out["config"]) + _strings(out["provenance"]) if "/" in t]
