"""Every CLI command on a tiny setting: it runs, prints a summary and writes valid JSON + PNG."""
import importlib
import json
import re
import warnings

import pytest
import torch

from graphnca.checkpoint import load_checkpoint, save_checkpoint
from graphnca.cli import main
from graphnca import load_grown
from graphnca.testing import write_fake_idx

TINY_TRAIN = ["--steps", "3", "--batch-per-arch", "2", "--pool-size", "4", "--experimental", "pool_fresh=1",
              "--schedule", "uniform:2,3",
              "--experimental", "eval_every=3", "--experimental", "eval_samples=2",
              "--experimental", "checkpoint_every=2", "--widths", "8",
              "--hidden-size", "4"]


def read_json(path):
    data = json.loads(path.read_text())
    assert data["meta"]["torch"] == torch.__version__ and "git_revision" in data["meta"]
    assert path.with_suffix(".png").stat().st_size > 1000
    return data


def fails_with(capsys, args: list, message: str) -> None:
    """The command exits 2 (at parse time: argparse's exit) and its one error line names the problem."""
    try:
        rc = main(args)
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def rule_variant(rule, path, section: str, **changes):
    """A copy of checkpoint ``rule`` at ``path`` with config fields of ``section`` changed."""
    ck = load_checkpoint(rule)
    ck["config"][section].update(changes)
    save_checkpoint(path, ck)
    return path


@pytest.fixture(scope="module")
def iris_rule(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    assert main(["train", "--out", str(out), "--arch", "4,5,3", *TINY_TRAIN]) == 0
    return out / "checkpoint.pt"


def test_train_writes_json_and_resumes(iris_rule, capsys):
    data = read_json(iris_rule.parent / "train.json")
    assert data["summary"]["steps"] == 3 and data["seed"] == 0
    assert data["config"]["task"]["archs"] == [[4, 5, 3]]
    # a finished run refuses to be silently overwritten, and --resume continues it to the (larger) step count
    fails_with(capsys, ["train", "--out", str(iris_rule.parent), "--arch", "4,5,3", *TINY_TRAIN], "--resume")
    flags = [f if f != "3" else "4" for f in TINY_TRAIN[:2]] + TINY_TRAIN[2:]
    assert main(["train", "--out", str(iris_rule.parent), "--arch", "4,5,3", "--resume", *flags]) == 0
    assert read_json(iris_rule.parent / "train.json")["summary"]["steps"] == 4
    fails_with(capsys, ["train", "--out", str(iris_rule.parent), "--arch", "4,5,3", "--resume", "--lr", "0.5",
                        *flags], "different configuration")


def test_train_time_limit_stops_cleanly_and_resumes_exactly(tmp_path, capsys):
    cut, whole = tmp_path / "cut", tmp_path / "whole"
    assert main(["train", "--out", str(cut), "--arch", "4,5,3", "--time-limit", "0", *TINY_TRAIN]) == 0
    summary = read_json(cut / "train.json")["summary"]
    assert summary["steps"] == 1 and summary["time_limit_reached"] is True
    assert load_checkpoint(cut / "checkpoint.pt")["step"] == 1
    assert main(["train", "--out", str(cut), "--arch", "4,5,3", "--resume", *TINY_TRAIN]) == 0
    assert main(["train", "--out", str(whole), "--arch", "4,5,3", *TINY_TRAIN]) == 0
    a, b = load_checkpoint(cut / "checkpoint.pt"), load_checkpoint(whole / "checkpoint.pt")
    assert a["step"] == b["step"] == 3 and read_json(cut / "train.json")["summary"]["time_limit_reached"] is False
    assert all(torch.equal(a["rule"][k], b["rule"][k]) for k in b["rule"])
    fails_with(capsys, ["train", "--out", str(tmp_path / "bad"), "--arch", "4,5,3", "--time-limit", "-1",
                        *TINY_TRAIN], "argument --time-limit: must be >= 0.0, got -1")
    assert not (tmp_path / "bad").exists()


def test_train_xor_with_a_data_conditioned_rule(tmp_path):
    out = tmp_path / "xor"
    assert main(["train", "--task", "xor", "--condition", "data", "--out", str(out), "--arch", "8,5,2",
                 *TINY_TRAIN]) == 0
    history = read_json(out / "train.json")["history"]
    assert len(history) == 3 and all(r["loss"] > 0 for r in history)
    assert main(["grow", "--rule", str(out / "checkpoint.pt"), "--arch", "8,4,4,2", "--samples", "2", "--steps", "3",
                 "--out", str(tmp_path / "g")]) == 0
    assert read_json(tmp_path / "g" / "grow.json")["task"] == "xor"


def test_grow_exports_plain_pytorch_models(iris_rule, tmp_path):
    assert main(["grow", "--rule", str(iris_rule), "--arch", "4,7,6,3", "--samples", "3", "--out", str(tmp_path)]) == 0
    data = read_json(tmp_path / "grow.json")
    assert len(data["accuracy"]) == 3 and len(data["files"]) == 3
    model = load_grown(tmp_path / data["files"][0])
    assert model(torch.randn(5, 4)).shape == (5, 3)
    raw = torch.load(tmp_path / data["files"][0], weights_only=True)   # plain PyTorch can read it too
    assert raw["arch"]["sizes"] == [4, 7, 6, 3] and "0.weight" in raw["state_dict"]


def test_grow_step_scale_scales_every_update(tmp_path, capsys):
    """``--step-scale k`` multiplies the rule's update: one step at k = 0.5 moves every weight half as far;
    ``--hidden-step-scale 0`` leaves the hidden layers exactly as initialised and moves only the readout."""
    iris_rule = tmp_path / "rule" / "checkpoint.pt"       # no dead zone: a barely trained rule still moves weights
    assert main(["train", "--out", str(iris_rule.parent), "--arch", "4,5,3", "--deadzone", "0", "--lr", "0.05",
                 *TINY_TRAIN]) == 0

    def grown(steps, scale, *extra):
        out = tmp_path / f"{steps}_{scale}_{len(extra)}"
        assert main(["grow", "--rule", str(iris_rule), "--arch", "4,7,3", "--samples", "2", "--steps", str(steps),
                     "--step-scale", str(scale), *extra, "--out", str(out)]) == 0
        assert read_json(out / "grow.json")["step_scale"] == scale
        return load_grown(out / "net_001.pt").state_dict()

    def flat(sd, prefix=""):
        return torch.cat([v.flatten() for k, v in sd.items() if k.startswith(prefix)])
    w0, full, half = grown(0, 1.0), grown(1, 1.0), grown(1, 0.5)
    d_full, d_half = flat(full) - flat(w0), flat(half) - flat(w0)
    assert d_full.abs().max() > 1e-4
    torch.testing.assert_close(d_half, 0.5 * d_full, atol=1e-7, rtol=1e-3)
    readout = grown(1, 0.5, "--hidden-step-scale", "0")          # layers: 0 (hidden linear), 1 (act), 2 (readout)
    assert torch.equal(flat(readout, "0."), flat(w0, "0."))
    torch.testing.assert_close(flat(readout, "2.") - flat(w0, "2."), flat(half, "2.") - flat(w0, "2."))
    # frozen hidden weights whose states evolve: still bit-identical weights, but from step 2 on the readout sees
    # the changed states of its neighbours
    frozen, evolving = (grown(2, 0.5, "--hidden-step-scale", "0"),
                        grown(2, 0.5, "--hidden-step-scale", "0", "--hidden-state-scale", "0.5"))
    assert torch.equal(flat(evolving, "0."), flat(w0, "0."))
    assert not torch.equal(flat(evolving, "2."), flat(frozen, "2."))
    assert read_json(tmp_path / "2_0.5_4" / "grow.json")["hidden_state_scale"] == 0.5
    fails_with(capsys, ["grow", "--rule", str(iris_rule), "--arch", "4,7,3", "--hidden-state-scale", "nan",
                        "--out", str(tmp_path / "bad3")], "hidden_state_scale must be a finite number >= 0")
    fails_with(capsys, ["grow", "--rule", str(iris_rule), "--arch", "4,7,3", "--step-scale", "0",
                        "--out", str(tmp_path / "bad")], "step_scale must be a finite number > 0")
    fails_with(capsys, ["grow", "--rule", str(iris_rule), "--arch", "4,7,3", "--hidden-step-scale", "-1",
                        "--out", str(tmp_path / "bad2")], "hidden step scale must be a finite number >= 0")
    assert not (tmp_path / "bad2").exists()


def test_heatmap_with_adam_baseline(iris_rule, tmp_path):
    assert main(["heatmap", "--rule", str(iris_rule), "--hidden", "3,5", "--samples", "2", "--baseline", "adam",
                 "--epochs", "1", "--out", str(tmp_path)]) == 0
    data = read_json(tmp_path / "heatmap.json")
    assert len(data["grown_mean"]) == 2 and len(data["adam"][1]) == 2 and data["summary"]["cells"] == 4


def test_heatmap_third_layer_grows_the_deeper_networks(iris_rule, tmp_path, capsys, monkeypatch):
    gm = importlib.import_module("graphnca.grow")  # the module: grow_scheduled looks `grow` up there
    grown = []

    def spy(conv, graph, *args, **kwargs):
        grown.append(graph.archs[0].sizes)
        return gm_grow(conv, graph, *args, **kwargs)

    gm_grow = gm.grow
    monkeypatch.setattr(gm, "grow", spy)
    assert main(["heatmap", "--rule", str(iris_rule), "--hidden", "3,4", "--third", "5", "--samples", "3",
                 "--out", str(tmp_path / "h")]) == 0
    assert grown == [(4, 3, 3, 5, 3), (4, 3, 4, 5, 3), (4, 4, 3, 5, 3), (4, 4, 4, 5, 3)]
    # the first cell grows exactly what `grow` grows for [4, 3, 3, 5, 3] from the same seed
    assert main(["grow", "--rule", str(iris_rule), "--arch", "4,3,3,5,3", "--samples", "3",
                 "--out", str(tmp_path / "g")]) == 0
    h, g = read_json(tmp_path / "h" / "heatmap.json"), read_json(tmp_path / "g" / "grow.json")
    assert h["third"] == 5 and h["grown_mean"][0][0] == pytest.approx(g["summary"]["mean"], abs=1e-6)
    assert (tmp_path / "h" / "heatmap.png").stat().st_size > 0
    fails_with(capsys, ["heatmap", "--rule", str(iris_rule), "--hidden", "3", "--third", "0",
                        "--out", str(tmp_path / "bad")], "argument --third: must be >= 1, got 0")


def test_heatmap_step_scales_grow_what_grow_grows(iris_rule, tmp_path, capsys, monkeypatch):
    gm = importlib.import_module("graphnca.grow")
    gm_grow, scales = gm.grow, []

    def spy(conv, graph, *args, scale=None, **kwargs):
        scales.append(None if scale is None else sorted(set(scale.flatten().tolist())))
        return gm_grow(conv, graph, *args, scale=scale, **kwargs)

    monkeypatch.setattr(gm, "grow", spy)
    flags = ["--step-scale", "0.5", "--hidden-step-scale", "0", "--samples", "3"]
    assert main(["heatmap", "--rule", str(iris_rule), "--hidden", "3", *flags, "--out", str(tmp_path / "h")]) == 0
    assert main(["grow", "--rule", str(iris_rule), "--arch", "4,3,3,3", *flags, "--out", str(tmp_path / "g")]) == 0
    assert main(["heatmap", "--rule", str(iris_rule), "--hidden", "3", "--samples", "3",
                 "--out", str(tmp_path / "own")]) == 0
    h, g = read_json(tmp_path / "h" / "heatmap.json"), read_json(tmp_path / "g" / "grow.json")
    own = read_json(tmp_path / "own" / "heatmap.json")
    assert (h["step_scale"], h["hidden_step_scale"], h["hidden_state_scale"]) == (0.5, 0, 0)
    assert own["hidden_step_scale"] == own["hidden_state_scale"] == 1.0
    assert {k: h[k] for k in ("step_scale", "hidden_step_scale", "hidden_state_scale")} == {
        k: g[k] for k in ("step_scale", "hidden_step_scale", "hidden_state_scale")}   # recorded as `grow` does
    assert h["grown_mean"][0][0] == pytest.approx(g["summary"]["mean"], abs=1e-6)
    # heatmap and grow: hidden weights frozen, output at half; then the heatmap at the rule's own step
    assert scales == [[0.0, 0.5], [0.0, 0.5], None]
    fails_with(capsys, ["heatmap", "--rule", str(iris_rule), "--hidden", "3", "--step-scale", "0",
                        "--out", str(tmp_path / "bad")], "step_scale must be a finite number > 0")
    assert not (tmp_path / "bad").exists()


def test_step_schedule_grows_in_segments_in_heatmap_and_grow(iris_rule, tmp_path, capsys, monkeypatch):
    """``--step-schedule 1x2,0.5x3`` grows 2 updates at the set multiples, then 3 at half of them, from where the
    first segment stopped; ``heatmap`` and ``grow`` grow the same networks and record the schedule and its total."""
    gm = importlib.import_module("graphnca.grow")
    gm_grow, calls = gm.grow, []

    def spy(conv, graph, n, steps, *args, state=None, scale=None, **kwargs):
        calls.append((steps, state is None, None if scale is None else sorted(set(scale.flatten().tolist()))))
        return gm_grow(conv, graph, n, steps, *args, state=state, scale=scale, **kwargs)

    monkeypatch.setattr(gm, "grow", spy)
    flags = ["--step-schedule", "1x2,0.5x3", "--hidden-step-scale", "0.2", "--samples", "2"]
    assert main(["heatmap", "--rule", str(iris_rule), "--hidden", "3", *flags, "--out", str(tmp_path / "h")]) == 0
    assert calls == [(2, True, pytest.approx([0.2, 1.0])), (3, False, pytest.approx([0.1, 0.5]))]
    assert main(["grow", "--rule", str(iris_rule), "--arch", "4,3,3,3", *flags, "--out", str(tmp_path / "g")]) == 0
    h, g = read_json(tmp_path / "h" / "heatmap.json"), read_json(tmp_path / "g" / "grow.json")
    assert h["step_schedule"] == g["step_schedule"] == "1x2,0.5x3" and h["steps"] == g["steps"] == 5
    assert h["grown_mean"][0][0] == pytest.approx(g["summary"]["mean"], abs=1e-6)
    calls.clear()
    assert main(["heatmap", "--rule", str(iris_rule), "--hidden", "3", "--samples", "2", "--steps", "4",
                 "--out", str(tmp_path / "own")]) == 0
    assert calls == [(4, True, None)] and read_json(tmp_path / "own" / "heatmap.json")["step_schedule"] is None
    fails_with(capsys, ["heatmap", "--rule", str(iris_rule), "--hidden", "3", "--step-schedule", "1x2", "--steps",
                        "3", "--out", str(tmp_path / "bad")], "steps=3 does not match the step schedule 1x2")
    fails_with(capsys, ["grow", "--rule", str(iris_rule), "--arch", "4,3,3", "--step-schedule", "1x2,0x3",
                        "--out", str(tmp_path / "bad2")], "step schedule segment 0.0x3 needs a finite scale > 0")
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad2").exists()


def test_stability_and_robustness(iris_rule, tmp_path):
    assert main(["stability", "--rule", str(iris_rule), "--rule", str(iris_rule), "--updates", "150",
                 "--samples", "2", "--out", str(tmp_path / "s")]) == 0
    s = read_json(tmp_path / "s" / "stability.json")
    assert len(s["results"]) == 2 and len(s["results"][0]["loss"]) == 150
    assert main(["robustness", "--rule", str(iris_rule), "--samples", "2", "--steps", "3", "--after", "4",
                 "--device", "cpu", "--out", str(tmp_path / "r")]) == 0
    r = read_json(tmp_path / "r" / "robustness.json")
    assert len(r["results"][0]["accuracy"]) == 3 + 1 + 4
    assert "cpus" in r["meta"]["device"] and "cpus" in s["meta"]["device"]


def test_stability_loss_on_fewer_examples_changes_the_curve(iris_rule, tmp_path):
    """``--loss-examples`` measures the loss on the first N training examples, and the JSON records N."""
    curves = {}
    for n in ("120", "10"):
        assert main(["stability", "--rule", str(iris_rule), "--updates", "5", "--samples", "2",
                     "--loss-examples", n, "--out", str(tmp_path / n)]) == 0
        s = read_json(tmp_path / n / "stability.json")
        assert s["loss_examples"] == int(n)
        curves[n] = s["results"][0]["loss"]
    assert len(curves["10"]) == 5 and curves["10"] != curves["120"]


def test_stability_and_robustness_name_a_bad_device(iris_rule, tmp_path, capsys):
    for command in ("stability", "robustness"):
        fails_with(capsys, [command, "--rule", str(iris_rule), "--device", "gpu0", "--out", str(tmp_path / command)],
                   "unknown device 'gpu0'")
        assert not (tmp_path / command).exists()


def test_stability_and_robustness_grow_any_architecture(iris_rule, tmp_path, capsys):
    """``--arch`` grows another architecture than the rule's first meta-training one (here a deeper one)."""
    assert main(["stability", "--rule", str(iris_rule), "--arch", "4,5,6,5,3", "--updates", "20", "--samples", "2",
                 "--out", str(tmp_path / "s")]) == 0
    assert read_json(tmp_path / "s" / "stability.json")["results"][0]["arch"] == [4, 5, 6, 5, 3]
    assert main(["robustness", "--rule", str(iris_rule), "--arch", "4,7,3", "--samples", "2", "--steps", "2",
                 "--after", "2", "--out", str(tmp_path / "r")]) == 0
    r = read_json(tmp_path / "r" / "robustness.json")["results"][0]
    assert r["arch"] == [4, 7, 3] and len(r["accuracy"]) == 2 + 1 + 2
    for command in ("stability", "robustness"):
        fails_with(capsys, [command, "--rule", str(iris_rule), "--arch", "5,7,3", "--out", str(tmp_path / command)],
                   "architecture [5, 7, 3] does not fit iris (4 inputs, 3 classes)")
        assert not (tmp_path / command).exists()


def test_stability_without_arch_grows_each_rules_own(iris_rule, tmp_path):
    """Without ``--arch`` every compared rule grows its own first meta-training architecture."""
    other = rule_variant(iris_rule, tmp_path / "other.pt", "task", archs=[[4, 6, 6, 3]])
    assert main(["stability", "--rule", str(iris_rule), "--rule", str(other), "--updates", "5",
                 "--samples", "2", "--out", str(tmp_path / "s")]) == 0
    s = read_json(tmp_path / "s" / "stability.json")
    assert [r["arch"] for r in s["results"]] == [[4, 5, 3], [4, 6, 6, 3]]


def test_robustness_warns_when_rules_grow_for_different_counts(iris_rule, tmp_path):
    other = rule_variant(iris_rule, tmp_path / "other.pt", "train", schedule="uniform:2,4")   # grows 4 steps, not 3
    args = ["robustness", "--rule", str(iris_rule), "--rule", str(other), "--samples", "2"]
    with pytest.warns(UserWarning, match=r"different step counts before damage \(\[3, 4\]\)"):
        assert main([*args, "--after", "2", "--out", str(tmp_path / "r")]) == 0
    assert [r["damage_at"] for r in read_json(tmp_path / "r" / "robustness.json")["results"]] == [3, 4]
    with warnings.catch_warnings():
        warnings.simplefilter("error")                          # one count for both: no warning
        assert main([*args, "--steps", "3", "--after", "2", "--out", str(tmp_path / "r3")]) == 0


def test_demo_tiny_writes_its_table_and_every_png(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--steps", "2", "--updates", "20",
                 "--hidden", "10,30", "--grid-samples", "1"]) == 0
    out = capsys.readouterr().out
    demo = read_json(tmp_path / "demo.json")
    assert [r["source"] for r in demo["rows"]][:3] == [0.848, 965, 13]
    assert "MNIST grid mean" in out and "0.848" in out and "965" in out        # the one rounded table
    for png in demo["figures"]:
        assert (tmp_path / png).stat().st_size > 1000 and png in out
    assert {"grid/heatmap.png", "stability/stability.png", "robustness/robustness.png", "demo.png"} <= set(
        demo["figures"])
    regrowth = r"(\d+|never \(\d\.\d\d of \d\.\d\d\)) / (\d+|never \(\d\.\d\d of \d\.\d\d\))"
    cells = [r["this run"] for r in demo["rows"] if "zero-out" in r["figure"]]
    assert len(cells) == 2 and all(re.fullmatch(regrowth, c) for c in cells)    # iris and MNIST (mnist-robust)
    grid = read_json(tmp_path / "grid" / "heatmap.json")
    assert grid["rule"] == "mnist" and grid["samples"] == 1 and len(grid["grown_mean"]) == 2
    assert grid["rule_file"]["meta_step"] > 0 and len(grid["rule_file"]["sha256"]) == 64


def test_mnist_offline_from_idx_folder(tmp_path):
    write_fake_idx(tmp_path / "data", 40, 20)
    args = ["train", "--task", "mnist", "--data-root", str(tmp_path / "data"), "--arch", "784,6,10",
            "--data-batch", "16", "--out", str(tmp_path / "run"), *TINY_TRAIN]
    assert main(args) == 0
    data = read_json(tmp_path / "run" / "train.json")
    assert data["config"]["init"]["input_shape"] == [28, 28]


def test_bad_inputs_give_one_clear_error(iris_rule, tmp_path, capsys):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(2)}, foreign)
    fails_with(capsys, ["grow", "--rule", str(foreign), "--arch", "4,5,3", "--out", str(tmp_path / "g")],
               "not a graphnca checkpoint")
    fails_with(capsys, ["grow", "--rule", str(iris_rule), "--arch", "4,5,2", "--out", str(tmp_path / "g")],
               "does not fit iris")
    fails_with(capsys, ["grow", "--rule", str(iris_rule), "--arch", "4,5,3", "--device", "gpu0",
                        "--out", str(tmp_path / "g")], "unknown device 'gpu0'")
    fails_with(capsys, ["heatmap", "--rule", str(iris_rule), "--hidden", "3", "--device", "meta",
                        "--out", str(tmp_path / "g")], "only cpu and cuda")
    assert not (tmp_path / "g").exists()


def test_data_conditioned_transfer_smoke(tmp_path):
    """Meta-train a data-conditioned rule on (fake) MNIST, grow for (fake) Fashion-MNIST with an unseen
    architecture, beside Adam on as many mini-batches."""
    write_fake_idx(tmp_path / "mnist", 40, 20)
    write_fake_idx(tmp_path / "fashion", 40, 20, seed=1)
    assert main(["train", "--task", "mnist", "--data-root", str(tmp_path / "mnist"), "--condition", "data",
                 "--arch", "784,6,10", "--experimental", "grow_batch=8", "--data-batch", "16",
                 "--out", str(tmp_path / "run"),
                 *TINY_TRAIN]) == 0
    assert read_json(tmp_path / "run" / "train.json")["config"]["rule"]["condition"] == "data"
    assert main(["grow", "--rule", str(tmp_path / "run" / "checkpoint.pt"), "--task", "fashion-mnist",
                 "--data-root", str(tmp_path / "fashion"), "--arch", "784,5,4,10", "--samples", "2",
                 "--baseline", "adam", "--device", "cpu", "--out", str(tmp_path / "g")]) == 0
    data = read_json(tmp_path / "g" / "grow.json")
    assert data["task"] == "fashion-mnist" and data["summary"]["condition"] == "data"
    assert "cpus" in data["meta"]["device"]
    assert len(data["adam_same_batches"]) == 2 and data["summary"]["adam_batches"] == data["steps"]


def test_export_then_grow_with_another_grow_batch(tmp_path, capsys):
    write_fake_idx(tmp_path / "mnist", 40, 20)
    assert main(["train", "--task", "mnist", "--data-root", str(tmp_path / "mnist"), "--condition", "data",
                 "--arch", "784,6,10", "--experimental", "grow_batch=8", "--data-batch", "16",
                 "--out", str(tmp_path / "run"),
                 *TINY_TRAIN]) == 0
    small = tmp_path / "rule.pt"
    assert main(["export", "--rule", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(small)]) == 0
    assert "written to" in capsys.readouterr().out
    assert small.stat().st_size < (tmp_path / "run" / "checkpoint.pt").stat().st_size
    assert main(["grow", "--rule", str(small), "--data-root", str(tmp_path / "mnist"), "--arch", "784,7,10",
                 "--samples", "2", "--grow-batch", "16", "--baseline", "adam", "--out", str(tmp_path / "g")]) == 0
    data = read_json(tmp_path / "g" / "grow.json")
    assert data["grow_batch"] == 16 and data["summary"]["adam_batch_size"] == 16
    fails_with(capsys, ["grow", "--rule", str(small), "--data-root", str(tmp_path / "mnist"), "--arch", "784,7,10",
                        "--grow-batch", "0", "--out", str(tmp_path / "g0")], "argument --grow-batch: must be >= 1")


def test_rule_labels_tell_exported_rules_of_one_folder_apart():
    from graphnca.experiments.common import rule_label
    from graphnca.meta.trainer import Config
    cfg = Config()
    assert rule_label(cfg, "runs/demo/pool/checkpoint.pt") == "pool (pool)"
    assert rule_label(cfg, "rules/a.pt") != rule_label(cfg, "rules/b.pt")
    assert rule_label(cfg, "rules/a.pt") == "a (pool)"
