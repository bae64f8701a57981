"""Smoke-run the benchmark scripts at tiny sizes (seconds); nothing is timed or asserted about speed."""
import json

import pytest

from ._helpers import BENCH, run, tiny_mnist_rule


@pytest.mark.parametrize("script, args, name", [
    ("perception.py", ["--weights", "1e3,3e3", "--repeats", "1"], "perception"),
    ("memory.py", ["--arch", "20,8,3", "--batch", "2", "--steps", "4", "--plain-steps", "1,2"], "memory"),
    ("meta_step.py", ["--arch", "20,8,3", "--batch", "2", "--steps", "2", "--hidden-size", "4", "--widths", "8",
                      "--data-batch", "8", "--repeats", "1", "--threads", "1"], "meta_step"),
])
def test_benchmark_smoke(tmp_path, script, args, name):
    run(script, *args, out=tmp_path)
    data = json.loads((tmp_path / f"{name}.json").read_text())
    assert data["meta"]["git_revision"] is None or isinstance(data["meta"]["git_revision"], str)
    assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_grow_vs_train_smoke(tmp_path):
    rule = tiny_mnist_rule(tmp_path, 64, hidden=5)
    run("grow_vs_train.py", "--rule", str(rule), "--arch", "784,5,10", "--many", "3", "--repeats", "2",
        "--adam-every", "1", "--max-epochs", "2", "--data-root", str(tmp_path / "mnist"), out=tmp_path)
    data = json.loads((tmp_path / "grow_vs_train.json").read_text())
    s = data["summary"]
    assert len(data["grow_one"]) == len(data["grow_many"]) == len(data["adam"]) == 2
    assert s["grow_many"] == 3 and s["grow_per_network_s"] == pytest.approx(s["grow_many_s"] / 3)
    assert data["rule_file"]["meta_step"] == 2 and len(data["rule_file"]["sha256"]) == 64


def test_arch_suite_smoke(tmp_path):
    rule = tiny_mnist_rule(tmp_path, 5100)
    run("arch_suite.py", "--rule", str(rule), "--suite", "mnist-depth", "--archs",
        "784,6,10;784,5,4,3,10", "--data-root", str(tmp_path / "mnist"), "--samples", "2", "--adam-seeds", "1",
        "--lrs", "1e-3,3e-3", out=tmp_path)
    data = json.loads((tmp_path / "arch_suite_mnist-depth.json").read_text())
    assert [r["trained"] for r in data["rows"]] == [True, False] and data["summary"]["held_out_archs"] == 1
    assert data["rows"][1]["adam_lr"] in (1e-3, 3e-3) and len(data["rows"][1]["grown"]) == 2


def test_design_study_runs_two_tiny_variants_and_writes_the_table(tmp_path):
    from graphnca.testing import write_fake_idx
    write_fake_idx(tmp_path / "mnist", 64, 20)
    variants = {"tiny": {"about": "a tiny base", "set": {
                    "task.task": "mnist", "task.archs": [[784, 6, 10]], "task.mean_field": 4.0, "task.data_batch": 16,
                    "rule.hidden_size": 6, "rule.widths": [8], "train.schedule": "fixed:2", "train.grow_steps": 2,
                    "train.batch_per_arch": 2, "train.pool_size": 0, "train.eval_every": 0,
                    "train.checkpoint_every": 0}},
                "tiny-incident": {"from": "tiny", "about": "one field changed",
                                  "set": {"rule.neighbourhood": "incident"}}}
    (tmp_path / "v.json").write_text(json.dumps(variants))
    run("design_study.py", "tiny", "tiny-incident", "--budget", "2", "--samples", "2", "--data-root",
        str(tmp_path / "mnist"), "--variants-file", str(tmp_path / "v.json"), "--panel", "784,5,4,10;784,9,10",
        out=tmp_path / "o")
    for name in ("tiny", "tiny-incident"):
        d = json.loads((tmp_path / "o" / f"{name}.json").read_text())
        assert d["meta_steps"] >= 1 and [r["arch"] for r in d["panel"]] == ["784-6-10", "784-5-4-10", "784-9-10"]
        assert [r["trained"] for r in d["panel"]] == [True, False, False] and len(d["panel"][1]["accs"]) == 2
        assert d["config"]["rule"]["neighbourhood"] == ("incident" if "-" in name else "consecutive")
    rows = json.loads((tmp_path / "o" / "table.json").read_text())["rows"]
    assert sorted(r["variant"] for r in rows) == ["tiny", "tiny-incident"]
    assert (tmp_path / "o" / "table.png").stat().st_size > 1000


def test_pretrained_study_runs_every_stage_at_tiny_sizes(tmp_path):
    import os
    import subprocess
    import sys

    rule = str(tiny_mnist_rule(tmp_path, 5100))
    env = {**os.environ, "MNIST": str(tmp_path / "mnist"), "FASHION": str(tmp_path / "mnist"),
           "OUT": str(tmp_path / "o"),
           "RULE": rule, "ROBUST": rule, "FRULE": rule, "SAMPLES": "1", "HIDDEN": "5,7", "UPDATES": "5",
           "ADAM_LRS": "1e-3,3e-3", "WIDE": "784,9,9,10", "DEPTH": "784,4,4,4,10", "FDEPTH": "784,5,5,5,10",
           "ZERO_ARCHS": "784,8,10", "STAB_ARCHS": "784,8,10", "MANY": "2", "REPEATS": "1", "PY": sys.executable}
    proc = subprocess.run(["bash", str(BENCH / "pretrained_study.sh")], env=env, capture_output=True, text=True,
                          timeout=600, cwd=BENCH.parent)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = tmp_path / "o"
    for f in ("mnist_grid/heatmap", "arch_suite_mnist-wide", "arch_suite_mnist-depth", "arch_suite_fashion-depth3",
              "stability_784-8-10/stability", "zero_out_784-8-10/robustness", "robust_grid/heatmap",
              "grow_vs_train"):
        assert (out / f"{f}.json").exists() and (out / f"{f}.png").stat().st_size > 1000, f
    grid = json.loads((out / "mnist_grid" / "heatmap.json").read_text())
    assert grid["adam_lrs"] == [1e-3, 3e-3] and all(lr in (1e-3, 3e-3) for row in grid["adam_lr"] for lr in row)
    # a second run into the same folder is refused (the first stage fails), nothing replaced
    before = (out / "mnist_grid" / "heatmap.json").read_bytes()
    again = subprocess.run(["bash", str(BENCH / "pretrained_study.sh")], env={**env, "ONLY": "grid"},
                           capture_output=True, text=True, timeout=300, cwd=BENCH.parent)
    assert again.returncode != 0 and "already holds results" in again.stderr
    assert (out / "mnist_grid" / "heatmap.json").read_bytes() == before


def test_feature_probe_reads_out_every_hidden_layer(tmp_path):
    rule = tiny_mnist_rule(tmp_path, 400, hidden=5)
    run("feature_probe.py", "--rule", str(rule), "--arch", "784,5,10", "--arch", "784,6,4,10", "--samples", "2",
        "--epochs", "5", "--data-root", str(tmp_path / "mnist"), out=tmp_path)
    data = json.loads((tmp_path / "feature_probe_mnist.json").read_text())
    assert [(r["arch"], r["net"]) for r in data["rows"]] == [("784-5-10", 0), ("784-5-10", 1),
                                                             ("784-6-4-10", 0), ("784-6-4-10", 1)]
    assert all(("hidden2" in r) == (r["arch"] == "784-6-4-10") and 0 <= r["hidden1"] <= 1 for r in data["rows"])
    # the fake classes are bands of rows: a linear read-out of the pixels separates them, far above chance
    assert data["baselines"]["pixels"] > 0.5 and set(data["baselines"]) == {"pixels", "cosines_K3", "cosines_K6",
                                                                            "cosines_K12"}
    assert (tmp_path / "feature_probe_mnist.png").stat().st_size > 1000


def test_robust_panel_scores_two_rules_and_prints_one_line_each(tmp_path):
    import os
    import subprocess
    import sys

    rule = str(tiny_mnist_rule(tmp_path, 5100))
    env = {**os.environ, "MNIST": str(tmp_path / "mnist"), "OUT": str(tmp_path / "o"), "UPDATES": "5",
           "ARCH": "784,8,10", "SAMPLES": "2", "HIDDEN": "5,7", "PY": sys.executable}
    proc = subprocess.run(["bash", str(BENCH / "robust_panel.sh"), f"a={rule}", f"b={rule}"], env=env,
                          capture_output=True, text=True, timeout=600, cwd=BENCH.parent)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for name in ("a", "b"):
        for f in ("stability/stability", "zero_out/robustness", "grid/heatmap"):
            assert (tmp_path / "o" / name / f"{f}.json").exists(), (name, f)
    rows = [line.split() for line in proc.stdout.splitlines() if line.split()[:1] in (["a"], ["b"])]
    assert len(rows) == 2 and rows[0][1:] == rows[1][1:]        # the same rule scores the same on the panel
    assert json.loads((tmp_path / "o" / "a" / "grid" / "heatmap.json").read_text())["samples"] == 1
    bad = subprocess.run(["bash", str(BENCH / "robust_panel.sh"), rule], env=env, capture_output=True, text=True,
                         timeout=60, cwd=BENCH.parent)
    assert bad.returncode == 2 and "expected NAME=RULE" in bad.stderr
