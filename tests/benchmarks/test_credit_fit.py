"""benchmarks/credit_fit.py: the sign-symmetry teacher in rule form, and the fit."""
import json
import subprocess
import sys

import pytest

from ._helpers import bench_module, run


def test_credit_fit_teacher_is_the_sign_learner(monkeypatch):
    """With its message weights settled at c sign(w) the teacher moves every weight by the bounded SGD step on the
    local_credit feedback learner's direction with those messages (the conditioning's fan-out normalisation folded
    in), and leaves the messages where they are; unsettled messages move towards c sign(w)."""
    import torch

    import graphnca
    from graphnca.conditioning import data_features
    from graphnca.graph import repeat

    lc, cf = bench_module("local_credit", monkeypatch), bench_module("credit_fit", monkeypatch)
    arch = (4, 5, 3, 3)
    graph = repeat(graphnca.WeightGraph.from_sizes(arch, activation="tanh"), 2)
    w, c, lr, step = torch.randn(graph.num_weights), 0.7, 0.3, 0.5
    x = torch.stack([w, torch.zeros_like(w), c * torch.sign(w)], 1)          # [E, 1 + H], H = 2: [w, h, b]
    xb, yb = torch.randn(30, 4), torch.randint(3, (30,))
    f = data_features(graph, w, xb, yb, condition="feedback", feedback=x[:, -1])
    d = cf.teacher_delta(x, f, lr, step, c, sign_gain=5.0)
    fan_out = torch.tensor([arch[1:][layer] for layer in graph.layer.tolist()], dtype=torch.float)   # of sources
    fb = x[:, -1] / fan_out.sqrt()
    direction = lc.feedback_direction(graph.archs[0], w.view(2, -1), fb.view(2, -1), xb, yb).flatten()
    torch.testing.assert_close(d[:, 0], step * torch.tanh(-lr * direction / step), atol=1e-6, rtol=1e-5)
    assert d[:, 0].abs().max() > 1e-3 and d[graph.layer == 0, 0].abs().max() > 1e-5   # the first layer learns too
    assert torch.equal(d[:, 1:], torch.zeros_like(d[:, 1:]))                          # settled: nothing else moves
    moved = cf.teacher_delta(x * torch.tensor([1.0, 1.0, 0.0]), f, lr, step, c, sign_gain=5.0)[:, -1]
    assert torch.equal(torch.sign(moved), torch.sign(w))                             # b = 0 moves to c sign(w)


def test_credit_fit_smoke_writes_a_rule_grow_takes(tmp_path):
    """A tiny fit on xor: rows for teacher and student on every architecture, validation and test accuracies, one
    fit record per round, and a checkpoint `graphnca grow` loads as a feedback rule."""
    run("credit_fit.py", "--task", "xor", "--fit-arch", "8,4,2", "--arch", "8,6,2", "--nets", "2", "--fit-steps", "6",
        "--fit-samples", "3", "--fit-rows", "20", "--dagger", "1", "--epochs", "1", "--widths", "8", "--interaction",
        "2", "--steps", "2,4", "--val", "50", out=tmp_path)
    data = json.loads((tmp_path / "credit_fit_xor.json").read_text())
    assert [(r["arch"], r["who"], r["fitted"]) for r in data["rows"]] == [
        (arch, who, arch == "8,4,2") for arch in ("8,4,2", "8,6,2") for who in ("teacher", "student")]
    assert all(0 <= r[f"{k}@{t}"] <= 1 for r in data["rows"] for k in ("acc", "val") for t in (2, 4))
    assert [f["round"] for f in data["fits"]] == [0, 1] and all(len(f["rel_err"]) == 2 for f in data["fits"])
    assert data["fits"][1]["rows"] > data["fits"][0]["rows"] > 0
    assert (tmp_path / "credit_fit_xor.png").stat().st_size > 1000
    res = subprocess.run([sys.executable, "-m", "graphnca", "grow", "--rule", str(tmp_path / "credit_fit_xor.pt"),
                          "--arch", "8,6,2", "--samples", "2", "--steps", "3", "--out", str(tmp_path / "grow")],
                         check=True, capture_output=True, text=True, timeout=300)
    grown = json.loads((tmp_path / "grow" / "grow.json").read_text())["summary"]
    assert grown["condition"] == "feedback" and 0 <= grown["mean"] <= 1, res.stdout
    run("credit_fit.py", "--task", "xor", "--fit-arch", "8,4,2", "--arch", "8,6,2", "--nets", "2", "--steps", "2",
        "--val", "50", "--teacher-only", "--name", "teacher", out=tmp_path)
    rows = json.loads((tmp_path / "teacher.json").read_text())["rows"]
    assert [r["who"] for r in rows] == ["teacher", "teacher"] and not (tmp_path / "teacher.pt").exists()
    assert [r["acc@2"] for r in rows] == [r["acc@2"] for r in data["rows"] if r["who"] == "teacher"]   # same seeds


def test_credit_fit_teacher_weight_decay_reads_only_its_own_weight(monkeypatch):
    """``--weight-decay lambda`` adds ``lambda w`` to the weight's own credit term inside the bounded step (each
    weight decays by its own value alone) and leaves the message channel's update unchanged."""
    import torch

    cf = bench_module("credit_fit", monkeypatch)
    x = torch.tensor([[0.5, 0.0, 1.0], [-2.0, 0.0, -1.0], [0.0, 0.0, 0.3]])       # [w, h, b]
    f = torch.zeros(3, 9)
    f[:, cf.CREDIT] = torch.tensor([0.1, -0.2, 0.0])
    plain, decayed = cf.teacher_delta(x, f, 0.3, 1.0, 1.0, 5.0), cf.teacher_delta(x, f, 0.3, 1.0, 1.0, 5.0, 1e-2)
    want = torch.tanh(-0.3 * (f[:, cf.CREDIT] + 1e-2 * x[:, 0]))
    torch.testing.assert_close(decayed[:, 0], want)
    assert decayed[2, 0] == plain[2, 0] == 0 and not torch.equal(decayed[:2, 0], plain[:2, 0])   # w = 0: no decay
    assert torch.equal(decayed[:, 1:], plain[:, 1:])


def test_credit_fit_step_schedule_scales_the_evaluation_growth(tmp_path):
    """``--step-schedule`` multiplies every evaluation update by its segment's k: the first segment at k = 1 gives the
    unscheduled accuracies, a later segment at k < 1 changes them; a schedule shorter than --steps is refused before
    any fitting (no rule written)."""
    common = ("--task", "xor", "--fit-arch", "8,4,2", "--nets", "2", "--arch", "8,6,2", "--val", "50", "--teacher-only")
    run("credit_fit.py", *common, "--steps", "3,8", "--name", "plain", out=tmp_path)
    run("credit_fit.py", *common, "--steps", "3,8", "--step-schedule", "1x3,0.1x5", "--name", "sched", out=tmp_path)
    plain, sched = (json.loads((tmp_path / f"{n}.json").read_text())["rows"] for n in ("plain", "sched"))
    assert [r["val@3"] for r in sched] == [r["val@3"] for r in plain]
    assert [r["val@8"] for r in sched] != [r["val@8"] for r in plain]
    with pytest.raises(subprocess.CalledProcessError) as err:
        run("credit_fit.py", *common[:-1], "--steps", "3,8", "--step-schedule", "1x5", "--name", "short", out=tmp_path)
    assert "fewer than --steps 8" in err.value.stderr and not list(tmp_path.glob("short*"))
