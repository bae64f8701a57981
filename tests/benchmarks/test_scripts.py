"""Smoke-run the benchmark and prepared GPU scripts at tiny sizes (seconds); nothing is timed or asserted about
speed."""
import json
import subprocess
import sys
import time

import pytest

from graphnca.meta.trainer import Config, MetaTrainer, TaskConfig, TrainConfig

from ._helpers import BENCH, bench_module, run, tiny_data_rule


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


def test_arch_suite_smoke(tmp_path):
    from graphnca.checkpoint import export_rule
    from graphnca.testing import write_fake_idx
    write_fake_idx(tmp_path / "mnist", 5100, 20)       # the Adam baseline holds out the last 5000 for validation
    cfg = Config(task=TaskConfig(task="mnist", archs=((784, 6, 10),), data_root=str(tmp_path / "mnist"),
                                 mean_field=4.0, data_batch=32),
                 train=TrainConfig(steps=2, batch_per_arch=2, pool_size=0, schedule="fixed:2", eval_every=0,
                                   checkpoint_every=0))
    tr = MetaTrainer(cfg, tmp_path / "run")
    tr.run(progress=False)
    export_rule(tr.save(), tmp_path / "rule.pt")
    run("arch_suite.py", "--rule", str(tmp_path / "rule.pt"), "--suite", "mnist-depth", "--archs",
        "784,6,10;784,5,4,3,10", "--data-root", str(tmp_path / "mnist"), "--samples", "2", "--adam-seeds", "1",
        "--lrs", "1e-3,3e-3", out=tmp_path)
    data = json.loads((tmp_path / "arch_suite_mnist-depth.json").read_text())
    assert [r["trained"] for r in data["rows"]] == [True, False] and data["summary"]["held_out_archs"] == 1
    assert data["rows"][1]["adam_lr"] in (1e-3, 3e-3) and len(data["rows"][1]["grown"]) == 2
