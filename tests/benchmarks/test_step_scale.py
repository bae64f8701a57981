"""benchmarks/step_scale.py: the step multiple is chosen on validation data."""
import json

from ._helpers import bench_module, run, tiny_data_rule


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
